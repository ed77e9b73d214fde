"""The catalogue's product facts for the service (title, category, image path), in SQLite.

One row per indexed product, keyed by id, so lookups stay cheap and memory-light for millions of
products. The file is written once by :meth:`ProductTable.write` and opened read-only.
"""
from __future__ import annotations

import sqlite3
import threading
from typing import Dict, Iterable, List, Optional, Sequence

COLUMNS = ('id', 'row', 'title', 'category', 'image', 'modalities', 'split')
_CHUNK = 500   # ids per IN (...) query, under SQLite's variable limit


class ProductTable:
    """Read-only product lookups by id.

    Args:
        path: the SQLite file written by :meth:`write`.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn = sqlite3.connect(f'file:{path}?mode=ro', uri=True, check_same_thread=False)
        try:
            self._conn.execute('PRAGMA trusted_schema = OFF')   # no SQL function runs from the file's schema
            kind = self._conn.execute("SELECT type FROM sqlite_master WHERE name = 'products'").fetchone()
        except sqlite3.DatabaseError as exc:
            kind = exc
        if kind != ('table',):
            self._conn.close()
            raise ValueError(f'{path}: not an m5mm product table ({kind if kind else "no products table"})')
        self._lock = threading.Lock()

    @staticmethod
    def write(path: str, rows: Iterable[Dict[str, object]], *, batch: int = 10000) -> int:
        """Write the table (``rows``: dicts with :data:`COLUMNS`); returns the number of rows."""
        conn = sqlite3.connect(path)
        try:
            conn.execute('CREATE TABLE products (id TEXT PRIMARY KEY, row INTEGER, title TEXT, category TEXT, '
                         'image TEXT, modalities TEXT, split TEXT)')
            count, pending = 0, []
            for row in rows:
                pending.append(tuple(row.get(c) for c in COLUMNS))
                if len(pending) >= batch:
                    conn.executemany('INSERT INTO products VALUES (?, ?, ?, ?, ?, ?, ?)', pending)
                    count, pending = count + len(pending), []
            conn.executemany('INSERT INTO products VALUES (?, ?, ?, ?, ?, ?, ?)', pending)
            count += len(pending)
            conn.execute('CREATE INDEX products_category ON products (category)')
            conn.commit()
        finally:
            conn.close()
        return count

    def _query(self, sql: str, args: Sequence = ()) -> List[tuple]:
        with self._lock:
            return self._conn.execute(sql, tuple(args)).fetchall()

    def get(self, pid: str) -> Optional[Dict[str, object]]:
        """The product's row as a dict, or None."""
        rows = self._query('SELECT * FROM products WHERE id = ?', (pid,))
        return dict(zip(COLUMNS, rows[0])) if rows else None

    def many(self, ids: Sequence[str]) -> Dict[str, Dict[str, object]]:
        """id -> row of each known id among ``ids``."""
        out: Dict[str, Dict[str, object]] = {}
        for start in range(0, len(ids), _CHUNK):
            chunk = list(ids[start:start + _CHUNK])
            marks = ','.join('?' * len(chunk))
            for row in self._query(f'SELECT * FROM products WHERE id IN ({marks})', chunk):
                out[row[0]] = dict(zip(COLUMNS, row))
        return out

    def categories(self) -> List[str]:
        """The distinct categories, sorted."""
        return [row[0] for row in self._query('SELECT DISTINCT category FROM products WHERE category IS NOT NULL '
                                              'ORDER BY category')]

    def has_category(self, category: str) -> bool:
        """Whether any product has ``category``."""
        return bool(self._query('SELECT 1 FROM products WHERE category = ? LIMIT 1', (category,)))

    def __len__(self) -> int:
        return int(self._query('SELECT COUNT(*) FROM products')[0][0])

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()
