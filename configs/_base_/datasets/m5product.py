# The M5Product release layout (meta.json + image/ video/ audio/ folders named <id>.<ext>).
#
# Following the paper, images/video/audio can be read as pre-extracted features (source='feature':
# <id>.npy files next to the media; 36 x 2048 region features, <= 12 x 1024 S3D clip features),
# or decoded from raw media as below (small CPU-friendly sizes; the paper's audio is the first 12 s
# at 16 kHz, 80 mel bins, n_fft 1024, hop 256). Real data is noisy: malformed entries are skipped
# and counted, unreadable media become absent modalities.
data_root = 'data/m5product'

modalities = dict(
    image=dict(pipeline=[dict(type='LoadImage', draft_size=224),
                         dict(type='ResizeImage', size=224, crop=True),
                         dict(type='NormalizeImage')], source='raw'),
    text=dict(pipeline=[dict(type='TokenizeText', max_length=36)], source='raw'),
    table=dict(pipeline=[dict(type='TokenizeTable', max_length=64)], source='raw'),
    video=dict(pipeline=[dict(type='LoadFeature', max_tokens=12)], source='feature'),  # S3D <id>.npy
    audio=dict(pipeline=[dict(type='LoadAudioMel', sample_rate=16000, max_duration=12.0, n_mels=80,
                              n_fft=1024, hop_length=256)], source='raw'),
)
# Real data is noisy: skip malformed entries (counted in the log and media_report.json) in every dataset.
on_bad_line = 'skip'
# Titles are Chinese: train a WordPiece vocabulary on the train split (or point path at a
# bert-base-chinese tokenizer folder; the paper uses its 21128-token vocabulary).
tokenizer = dict(path=None, vocab_size=21128)

# One meta file per split; a single file whose entries carry "split" works too (meta_file='meta.json').
meta_files = dict(train='train_meta.json', val='val_meta.json', query='query_meta.json',
                  gallery='gallery_meta.json')

train_dataloader = dict(
    batch_size=64, num_workers=8,
    dataset=dict(type='M5ProductDataset', data_root=data_root, meta_file=meta_files, split='train',
                 modalities=modalities, tokenizer=tokenizer))
val_dataloader = dict(
    batch_size=64, num_workers=8,
    dataset=dict(type='M5ProductDataset', data_root=data_root, meta_file=meta_files, split='val',
                 modalities=modalities, tokenizer=tokenizer))
test_dataloader = dict(
    batch_size=64, num_workers=8,
    dataset=dict(type='M5ProductDataset', data_root=data_root, meta_file=meta_files,
                 split=['query', 'gallery'], modalities=modalities, tokenizer=tokenizer))
