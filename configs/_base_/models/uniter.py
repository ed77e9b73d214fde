# UNITER-style single-stream fusion: single_stream.py + the matching objective (a random modality of
# each batch shuffled across the samples; matched vs shuffled classified from the fusion [CLS]).
_base_ = './single_stream.py'
model = dict(objectives=dict(match=dict(type='MatchingObjective')))
