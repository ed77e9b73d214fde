# The demo catalogue restricted to titles and images (the setting of the paper's published
# comparisons): demo_5mod.py's text and image entries, in all three dataloaders.
_base_ = './demo_5mod.py'
_two = dict(image={{_base_.modalities.image}}, text={{_base_.modalities.text}})
train_dataloader = dict(dataset=dict(modalities=dict(_delete_=True, **_two)))
val_dataloader = dict(dataset=dict(modalities=dict(_delete_=True, **_two)))
test_dataloader = dict(dataset=dict(modalities=dict(_delete_=True, **_two)))
