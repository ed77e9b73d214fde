"""Small real tokenizers for the tiny pretrained models: WordPiece (BERT) and Unigram (XLM-R style).

Trained offline with ``tokenizers`` on the demo catalogue's words plus Chinese product titles,
wrapped in the ``transformers`` tokenizer classes of their families and saved with
``save_pretrained``, so loading them runs the same code as loading a hub tokenizer.
"""
from __future__ import annotations

from typing import List

CHINESE_TITLES = (
    '新款 纯棉 短袖 T恤 男士 夏季', '女士 真皮 手提包 大容量 通勤', '智能 手表 运动 心率 防水',
    '无线 蓝牙 耳机 降噪 头戴式', '陶瓷 茶壶 家用 泡茶 复古', 'LED 护眼 台灯 学生 宿舍',
    '不锈钢 保温杯 便携 大容量', '哑光 口红 持久 不掉色', '偏光 太阳镜 防紫外线 时尚',
    '淡香水 女士 花香 持久', '手机壳 防摔 硅胶 透明', '跑步鞋 男 轻便 透气 运动鞋',
    '品牌 型号 颜色 材质 风格 尺寸 产地 保修', '中国 越南 德国 美国 意大利 印度 一年 两年 六个月',
)


def corpus() -> List[str]:
    """Lines covering the demo catalogue's vocabulary (English) and Chinese product text."""
    from m5mm.experiments.catalogues.demo import catalogue, design
    words = [w for pair in catalogue.NOUNS.values() for w in pair]
    words += [w for nouns in catalogue.DEPARTMENT_NOUNS.values() for w in nouns]
    words += list(catalogue.GENERIC_NOUNS + catalogue.ADJECTIVES + catalogue.TABLE_KEYS + catalogue.MATERIALS
                  + catalogue.STYLES + catalogue.ORIGINS + catalogue.WARRANTIES)
    words += list(design.COLORS) + [b for brands in design.BRANDS.values() for b in brands]
    return [' '.join(words)] * 3 + list(CHINESE_TITLES) * 3 + [str(n) for n in range(100)]


def wordpiece_tokenizer(vocab_size: int = 600):
    """A lower-casing BERT WordPiece tokenizer ([PAD]=0, [UNK], [CLS], [SEP], [MASK]) as ``BertTokenizerFast``."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertTokenizerFast
    specials = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
    backend = Tokenizer(models.WordPiece(unk_token='[UNK]'))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True, handle_chinese_chars=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece()
    backend.train_from_iterator(corpus(), trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials,
                                                                    show_progress=False))
    backend.post_processor = processors.BertProcessing(('[SEP]', backend.token_to_id('[SEP]')),
                                                       ('[CLS]', backend.token_to_id('[CLS]')))
    return BertTokenizerFast(tokenizer_object=backend, do_lower_case=True, unk_token='[UNK]', pad_token='[PAD]',
                             cls_token='[CLS]', sep_token='[SEP]', mask_token='[MASK]')


def unigram_tokenizer(vocab_size: int = 400):
    """A SentencePiece-style Unigram tokenizer with XLM-R's special tokens (``<s>``=0, ``<pad>``=1,
    ``</s>``=2, ``<unk>``=3, ``<mask>``) as ``XLMRobertaTokenizerFast``."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import XLMRobertaTokenizerFast
    specials = ['<s>', '<pad>', '</s>', '<unk>', '<mask>']
    backend = Tokenizer(models.Unigram())
    backend.normalizer = normalizers.NFKC()
    backend.pre_tokenizer = pre_tokenizers.Metaspace()
    backend.decoder = decoders.Metaspace()
    backend.train_from_iterator(corpus(), trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials,
                                                                  unk_token='<unk>', show_progress=False))
    backend.post_processor = processors.RobertaProcessing(('</s>', 2), ('<s>', 0))
    return XLMRobertaTokenizerFast(tokenizer_object=backend, bos_token='<s>', eos_token='</s>', sep_token='</s>',
                                   cls_token='<s>', unk_token='<unk>', pad_token='<pad>', mask_token='<mask>')
