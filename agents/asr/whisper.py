"""The local backend: faster-whisper (CTranslate2) through BatchedInferencePipeline, with word timestamps."""
from __future__ import annotations

from concurrent.futures import Future

from scenestream.agents.asr.backend import RegionText, run_now
from scenestream.agents.asr.settings import AsrSettings
from scenestream.agents.asr.speech import Packed
from scenestream.agents.errors import ConfigError
from scenestream.agents.models import offline, pick_device, resolve_model


def compute_type(requested: str, device: str) -> str:
    if requested != "auto":
        return requested
    return "float16" if device == "cuda" else "int8"


class FasterWhisperBackend:
    def __init__(self, settings: AsrSettings):
        self.settings = settings
        self.model_id = settings.model_spec()
        self.pipeline = None
        self.multilingual = True

    def setup(self) -> None:
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        s = self.settings
        source = resolve_model(s.model_spec())
        device = pick_device(s.device)
        index = int(device.split(":", 1)[1]) if ":" in device else 0
        device = device.split(":", 1)[0]
        try:
            model = WhisperModel(source.location, device=device, device_index=index,
                                 compute_type=compute_type(s.compute_type, device), cpu_threads=s.cpu_threads,
                                 num_workers=1, local_files_only=offline())
        except (OSError, RuntimeError, ValueError) as exc:
            raise ConfigError(f"cannot load whisper model {source}: {' '.join(str(exc).split())}") from None
        self.model_id = str(source)
        self.multilingual = model.model.is_multilingual
        if s.translate and not self.multilingual:
            raise ConfigError(f"asr translate=en needs a multilingual model; {source} is English-only "
                              "(e.g. -o asr.model=whisper-base, the pack's multilingual one)")
        self.pipeline = BatchedInferencePipeline(model)

    def submit(self, packed: Packed, language: str | None) -> "Future[RegionText]":
        return run_now(lambda: self._transcribe(packed, language))

    def _transcribe(self, packed: Packed, language: str | None) -> RegionText:
        s = self.settings
        # The region is already packed (speech only, <= 30 s clips), so the pipeline's own VAD stays off and the
        # clips go in as they are: the same chunks it would have made itself, without a second VAD pass.
        segments, info = self.pipeline.transcribe(
            packed.audio, language=language, beam_size=s.beam_size, batch_size=s.batch_size, word_timestamps=True,
            vad_filter=False, clip_timestamps=[{"start": a, "end": b} for a, b in packed.clips])
        words = [(w.word, float(w.start), float(w.end), float(w.probability))
                 for seg in segments for w in (seg.words or [])]
        translation = None
        if s.translate and words:
            # A second decoding of the same clips, told the language the first found, into English: Whisper's
            # translate task gives segments (no word times).
            translated, _ = self.pipeline.transcribe(
                packed.audio, language=info.language or language, task="translate", beam_size=s.beam_size,
                batch_size=s.batch_size, vad_filter=False, clip_timestamps=[{"start": a, "end": b} for a, b in packed.clips])
            translation = [(seg.text, float(seg.start), float(seg.end)) for seg in translated if seg.text.strip()]
        return RegionText(words, info.language or "", translation)

    def close(self) -> None:
        self.pipeline = None
