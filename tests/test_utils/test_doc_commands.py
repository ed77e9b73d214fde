"""Commands read from a Markdown file's bash blocks: chains split, continuations joined, markers kept."""
from m5mm.utils.doc_commands import doc_commands, split_steps

MARKDOWN = '''# Title

## Quick start

```bash
python a.py --x "1 2" && python b.py   # a note
python c.py \\
    --long 1
tool CONFIG [--opt X]
    [--other Y]
```

<!-- test-command -->
```bash
pytest -q
```

```python
print('not a command')
```
'''


def test_steps_lines_sections_and_markers(tmp_path):
    path = tmp_path / 'doc.md'
    path.write_text(MARKDOWN)
    commands = doc_commands(str(path))
    assert [c.text for c in commands] == ["python a.py --x '1 2'", 'python b.py', 'python c.py --long 1',
                                          "tool CONFIG '[--opt' 'X]' '[--other' 'Y]'", 'pytest -q']
    assert [c.line for c in commands] == [6, 6, 7, 9, 15]
    assert commands[0].argv == ['python', 'a.py', '--x', '1 2'] and commands[0].section == 'Quick start'
    assert [c.marker for c in commands] == [None] * 4 + ['test-command']


def test_split_steps_keeps_quoted_operators():
    assert split_steps("echo 'a && b'; ls || true") == ["echo 'a && b'", 'ls', 'true']
