# The demo catalogue with all five modalities read from raw media (generated on first use).
#
# Sizes are small so that training runs on a CPU. The paper (SCALE, CVPR 2022) uses titles of
# <= 36 tokens, tables of <= 64 tokens, 36 Faster R-CNN region features per image, <= 12 S3D clip
# features per video (1 fps) and the first 12 s of audio (16 kHz, 80 mel bins, n_fft 1024, hop 256).
# For raw media at paper-like scale use e.g. images 224x224, 12 frames and max_duration=12.0.
data_root = 'data/demo'

image_pipeline = [
    dict(type='LoadImage', draft_size=64),  # paper: region features; raw pixels at 224 for a ViT
    dict(type='ResizeImage', size=64),
    dict(type='NormalizeImage'),
]
text_pipeline = [dict(type='TokenizeText', max_length=36)]
table_pipeline = [dict(type='TokenizeTable', max_length=64)]
video_pipeline = [dict(type='SampleVideoFrames', num_frames=4, size=64)]  # paper: up to 12 frames
audio_pipeline = [dict(type='LoadAudioMel', sample_rate=16000, max_duration=4.0, n_mels=80,
                       n_fft=1024, hop_length=256)]  # paper: max_duration=12.0 (751 frames)

modalities = dict(
    image=dict(pipeline=image_pipeline, source='raw'),
    text=dict(pipeline=text_pipeline, source='raw'),
    table=dict(pipeline=table_pipeline, source='raw'),
    video=dict(pipeline=video_pipeline, source='raw'),
    audio=dict(pipeline=audio_pipeline, source='raw'),
)
# A malformed manifest line stops the run, naming file and line ('skip': log, count and go on).
on_bad_line = 'error'
# path=None: DATA_ROOT/tokenizer, trained on the train split's titles and tables if absent.
tokenizer = dict(path=None, vocab_size=4000)

train_dataloader = dict(
    batch_size=32, num_workers=2,
    dataset=dict(type='ManifestDataset', data_root=data_root, split='train', modalities=modalities,
                 tokenizer=tokenizer,
                 generate_if_missing=dict(type='demo', num_products=400, seed=0)))
val_dataloader = dict(
    batch_size=64, num_workers=2,
    dataset=dict(type='ManifestDataset', data_root=data_root, split='val', modalities=modalities,
                 tokenizer=tokenizer,
                 generate_if_missing=dict(type='demo', num_products=400, seed=0)))
test_dataloader = dict(
    batch_size=64, num_workers=2,
    dataset=dict(type='ManifestDataset', data_root=data_root, split=['query', 'gallery'],
                 modalities=modalities, tokenizer=tokenizer,
                 generate_if_missing=dict(type='demo', num_products=400, seed=0)))
