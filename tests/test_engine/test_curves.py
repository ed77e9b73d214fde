"""curves.png: the logged losses per step and the per-epoch evaluation metrics of a work dir."""
import json

from PIL import Image

from m5mm.engine.hooks.curves import plot_curves, read_eval_points, read_loss_rows


def test_curves_read_the_logged_scalars_and_the_epoch_evaluations(tmp_path):
    assert plot_curves(tmp_path) is False and not (tmp_path / 'curves.png').exists()   # nothing logged yet
    rows = [dict(step=s, epoch=0, loss=3.0 / s, loss_con=2.0 / s, loss_mlm=1.0 / s) for s in (1, 2, 3)]
    (tmp_path / 'metrics.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in rows) + '{"step": 4, "lo')
    assert read_loss_rows(tmp_path / 'metrics.jsonl') == rows                 # a half-written last line is skipped
    assert plot_curves(tmp_path) is True
    with Image.open(tmp_path / 'curves.png') as image:
        assert image.size == (600, 350)                                       # losses only
    for epoch, value in ((1, 0.5), (0, 0.25)):
        (tmp_path / f'eval_epoch_{epoch}.json').write_text(json.dumps(
            {'retrieval_coarse': {'mAP@1': value, 'mAP@10': value + 0.1, 'Prec@10': 0.9},
             'query_counts': {'retrieval_coarse': {'queries': 12}}}))
    assert read_eval_points(tmp_path) == {'retrieval_coarse mAP@1': [(1, 0.25), (2, 0.5)],
                                          'retrieval_coarse mAP@10': [(1, 0.35), (2, 0.6)]}
    assert plot_curves(tmp_path) is True
    with Image.open(tmp_path / 'curves.png') as image:
        assert image.size == (1100, 350)                                      # losses + evaluation panel
