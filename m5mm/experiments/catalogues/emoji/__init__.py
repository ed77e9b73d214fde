"""The emoji catalogue: real pictures (Noto Color Emoji), real names (Unicode, the ``emoji`` package).

``make_emoji_dataset(out_dir)`` writes product listings of emoji merchandise (JPEG photos, pan/zoom
mp4 clips, espeak-ng voice-overs, noisy multilingual titles, attribute tables) in the m5mm manifest
format, one instance per emoji, one category per Unicode subgroup; see ``docs/emoji_data.md``.
"""
from .generate import make_emoji_dataset, make_queries, noise_report, summarize
from .plan import EmojiPlan, EmojiRecord, plan_emoji_dataset
from .sources import MissingSourceError

__all__ = ['EmojiPlan', 'EmojiRecord', 'MissingSourceError', 'make_emoji_dataset', 'make_queries', 'noise_report',
           'plan_emoji_dataset', 'summarize']
