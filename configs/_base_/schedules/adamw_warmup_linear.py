# The SCALE recipe (docs/method.md section 4): AdamW, lr 1e-4, weight decay 0.01 (none on norms and
# biases), 10% linear warm-up then linear decay, 0.1x lr for weights loaded from a pretrained model.
optim = dict(
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.01),
    pretrained_lr_mult=0.1,
    clip_grad_norm=1.0,
    accumulation_steps=1)
scheduler = dict(type='WarmupLinearDecayLR', warmup_ratio=0.1)
train_cfg = dict(max_epochs=5)
