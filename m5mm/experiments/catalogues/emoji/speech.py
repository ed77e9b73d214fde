"""Voice-overs of the emoji listings: espeak-ng reads a title, in background threads ahead of the writer.

espeak-ng (a separate process per title) is the slowest step of the generator; :class:`SpeechPrefetcher`
keeps up to ``ahead`` titles synthesising while the pictures and clips of earlier records are drawn,
and synthesises a (title, voice) pair once. The waves do not depend on the order or the threads.
"""
from __future__ import annotations

import io
import subprocess
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Dict, List, Sequence, Tuple

import numpy as np

AUDIO_RATE = 16000
AUDIO_MAX_SECONDS = 6.0
WORDS_PER_MINUTE = 190


def speak(espeak: str, text: str, voice: str) -> np.ndarray:
    """``text`` read by espeak-ng's ``voice`` -> (S,) float32 at AUDIO_RATE, at most AUDIO_MAX_SECONDS."""
    import librosa
    import soundfile
    result = subprocess.run([espeak, '-v', voice, '-s', str(WORDS_PER_MINUTE), '--stdout'],
                            input=text.encode('utf-8'), capture_output=True, check=False)  # stdin: never an option
    if result.returncode != 0 or not result.stdout:
        raise RuntimeError(f'espeak-ng failed on {text!r} with voice {voice!r}: '
                           f'{result.stderr.decode(errors="replace").strip()}')
    wave, rate = soundfile.read(io.BytesIO(result.stdout), dtype='float32')
    wave = librosa.resample(wave, orig_sr=rate, target_sr=AUDIO_RATE, res_type='soxr_hq')
    return wave[:int(AUDIO_MAX_SECONDS * AUDIO_RATE)].astype(np.float32)


def render_audio(rng: np.random.Generator, speech: np.ndarray) -> np.ndarray:
    """The voice-over of one listing: ``speech`` after 0-0.3 s of silence, at a random gain, in room noise."""
    lead = np.zeros(int(rng.uniform(0, 0.3) * AUDIO_RATE), dtype=np.float32)
    wave = np.concatenate([lead, speech * rng.uniform(0.5, 1.0)])
    wave = wave + rng.normal(0, rng.uniform(0.002, 0.01), size=wave.shape)
    return np.clip(wave, -1, 1).astype(np.float32)


class SpeechPrefetcher:
    """Speech of a known sequence of (text, voice) requests, synthesised ``ahead`` requests in advance.

    Call :meth:`next` once per request, in order; use as a context manager (it owns a thread pool).

    Args:
        espeak: path of the espeak-ng program.
        requests: the (text, voice) pairs in the order they will be asked for.
        ahead: how many requests may be in flight or waiting (bounds the memory held).
        workers: espeak-ng processes at a time.
    """

    def __init__(self, *, espeak: str, requests: Sequence[Tuple[str, str]], ahead: int = 32,
                 workers: int = 2) -> None:
        self.espeak, self.requests, self.ahead = espeak, list(requests), ahead
        self.pool = ThreadPoolExecutor(max_workers=workers)
        self.futures: Dict[Tuple[str, str], Future] = {}
        self.remaining: Dict[Tuple[str, str], int] = {}
        for request in self.requests:
            self.remaining[request] = self.remaining.get(request, 0) + 1
        self.submitted = self.served = 0

    def __enter__(self) -> 'SpeechPrefetcher':
        return self

    def __exit__(self, *exc) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _fill(self) -> None:
        while self.submitted < min(len(self.requests), self.served + self.ahead):
            request = self.requests[self.submitted]
            if request not in self.futures:
                self.futures[request] = self.pool.submit(speak, self.espeak, *request)
            self.submitted += 1

    def next(self, text: str, voice: str) -> np.ndarray:
        """The speech of the next request, which must be ``(text, voice)``."""
        request = (text, voice)
        if self.served >= len(self.requests) or self.requests[self.served] != request:
            raise ValueError(f'speech asked for {request!r} out of the announced order')
        self._fill()
        wave = self.futures[request].result()
        self.served += 1
        self.remaining[request] -= 1
        if not self.remaining[request]:   # no later record reads this title in this voice
            del self.futures[request]
        return wave


def speech_requests(records: List) -> List[Tuple[str, str]]:
    """The (spoken text, voice) of every record with a voice-over, in order."""
    return [(r.spoken, r.voice) for r in records if 'audio' in r.modalities]
