"""The captioner. VLM backends run on tiny randomly initialised checkpoints built here (LLaVA-Next, InstructBLIP and
Qwen2-VL for the generic image-text-to-text path), saved, and loaded through the same from_pretrained path as the
real hub models. Random weights: we test prompts, images, batching, guards and quantisation, not words. The
offline captioner runs the pack's real EfficientNet-Lite0 weights. Phi-3.5-Vision's code lives on the hub, so its
prompt and image handling are tested with a stand-in processor, and its cache shim against real transformers."""
import io

import pytest
import torch
from PIL import Image

from scenestream.agents.captioner import CaptionerAgent
from scenestream.agents.captioner.backends import InstructBlip, LegacyDynamicCache, LlavaNext, Phi3Vision, VlmBackend, panorama
from scenestream.agents.captioner.hf import load_options
from scenestream.agents.captioner.offline import compose_offline_caption
from scenestream.agents.captioner.settings import CaptionerSettings
from scenestream.agents.errors import ConfigError
from scenestream.schemas import Keyframe, Scene
from tests import media
from tests.models import build_qwen2_vl, tiny_text, tokenizer

PROMPT = "Describe this video scene in one or two factual sentences."
# Chat templates in the style of the real checkpoints' (the tiny ones have to bring their own).
LLAVA_CHAT = ("{% for m in messages %}USER: {% for c in m['content'] %}{% if c['type'] == 'image' %}<image>"
              "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endfor %} ASSISTANT:")
def tiny_vision(width=32):
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(hidden_size=width, intermediate_size=2 * width, num_hidden_layers=1, num_attention_heads=2,
                            image_size=32, patch_size=8, projection_dim=width)


@pytest.fixture(scope="session")
def tiny_llava_next(tmp_path_factory):
    return build_llava_next(tmp_path_factory.mktemp("tiny-llava-next"), width=32)


@pytest.fixture(scope="session")
def tiny_llava_next_64(tmp_path_factory):
    """The same model with every Linear's input a multiple of 64: bitsandbytes' 4-bit block size. On CPUs with
    avx512_bf16 it repacks 4-bit weights in blocks of 64 on the first forward, and a 32-wide layer fails there
    ("shape '[32, 0]' is invalid"), so the quantisation test would pass or fail by CPU model."""
    return build_llava_next(tmp_path_factory.mktemp("tiny-llava-next-64"), width=64)


def build_llava_next(d, width):
    from transformers import (LlavaNextConfig, LlavaNextForConditionalGeneration, LlavaNextImageProcessor,
                              LlavaNextProcessor)

    torch.manual_seed(0)
    tok = tokenizer("<image>")
    cfg = LlavaNextConfig(vision_config=tiny_vision(width), text_config=tiny_text(tok, width),
                          image_token_index=tok.convert_tokens_to_ids("<image>"), image_grid_pinpoints=[[32, 32]])
    LlavaNextForConditionalGeneration(cfg).save_pretrained(d)
    ip = LlavaNextImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                                 image_grid_pinpoints=[[32, 32]])
    LlavaNextProcessor(image_processor=ip, tokenizer=tok, patch_size=8, vision_feature_select_strategy="default",
                       image_token="<image>", num_additional_image_tokens=1, chat_template=LLAVA_CHAT).save_pretrained(d)
    return d


@pytest.fixture(scope="session")
def tiny_qwen2_vl(tmp_path_factory):
    """A third architecture (Qwen2-VL), which only the generic image-text-to-text Auto classes load."""
    return build_qwen2_vl(tmp_path_factory.mktemp("tiny-qwen2-vl"))


@pytest.fixture(scope="session")
def tiny_instructblip(tmp_path_factory):
    from transformers import (BlipImageProcessor, InstructBlipConfig, InstructBlipForConditionalGeneration,
                              InstructBlipProcessor, InstructBlipQFormerConfig, InstructBlipVisionConfig)

    torch.manual_seed(2)
    tok = tokenizer("<image>")
    vc = InstructBlipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                  image_size=32, patch_size=8)
    qc = InstructBlipQFormerConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                   vocab_size=len(tok), encoder_hidden_size=32, pad_token_id=0)
    cfg = InstructBlipConfig(vision_config=vc.to_dict(), qformer_config=qc.to_dict(),
                             text_config=tiny_text(tok).to_dict(), num_query_tokens=4,
                             image_token_index=tok.convert_tokens_to_ids("<image>"))
    d = tmp_path_factory.mktemp("tiny-instructblip")
    InstructBlipForConditionalGeneration(cfg).save_pretrained(d)
    InstructBlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tok,
                          qformer_tokenizer=tok, num_query_tokens=4).save_pretrained(d)
    return d


def rewired(src, dst, model_class, logits: dict[int, float]):
    """A copy of a tiny checkpoint whose next token no longer depends on its input: every layer's output projection
    zeroed (the residual stream is the current token's embedding), every embedding the same, and only the output
    rows in `logits` non-zero. The highest of them always wins (unless generate forbids it)."""
    model = model_class.from_pretrained(src)
    with torch.no_grad():
        for name, module in model.named_modules():
            if name.endswith(("o_proj", "down_proj")):
                module.weight.zero_()
        model.get_input_embeddings().weight.fill_(1.0)
        head = model.get_output_embeddings()
        head.weight.zero_()
        for token, value in logits.items():
            head.weight[token] = value
    model.save_pretrained(dst)
    from transformers import AutoProcessor

    AutoProcessor.from_pretrained(src).save_pretrained(dst)
    return dst


@pytest.fixture(scope="session")
def runaway(tiny_llava_next, tmp_path_factory):
    """Token 2000 always wins and end-of-sequence never comes."""
    from transformers import LlavaNextForConditionalGeneration

    return rewired(tiny_llava_next, tmp_path_factory.mktemp("runaway"), LlavaNextForConditionalGeneration,
                   {2000: 10.0})


def jpeg(path, size=None) -> bytes:
    with Image.open(path) as im:
        im = im.convert("RGB")
        if size:
            im = im.resize(size)
        buf = io.BytesIO()
        im.save(buf, "JPEG")
        return buf.getvalue()


def scenes(n, frames=2):
    pics = [jpeg(media.bus_jpg(), (64, 48)), jpeg(media.zidane_jpg(), (64, 48))]
    return [Scene("v", i, i * 2.0, i * 2.0 + 2.0, [Keyframe(i * 2.0 + f, pics[(i + f) % 2], 64, 48)
                                                   for f in range(frames)]) for i in range(n)]


def frames_of(scene_list):
    from scenestream.agents.captioner import _decode

    return [_decode(s) for s in scene_list]


def agent(model_dir, **options) -> CaptionerAgent:
    a = CaptionerAgent.from_options({"model": str(model_dir), "max_new_tokens": 6, **options})
    a.setup()
    return a


# ---------------------------------------------------------------------------------------------- LLaVA-Next
def test_llava_next_prompt_and_images(tiny_llava_next):
    eng = agent(tiny_llava_next).engine
    assert type(eng.backend) is LlavaNext
    assert eng.generation == {"max_new_tokens": 6, "num_beams": 1, "min_new_tokens": 0, "repetition_penalty": 1.0,
                              "no_repeat_ngram_size": 0}
    assert LlavaNext.defaults["max_new_tokens"] == 256
    assert eng.backend.text(2) == f"USER: <image><image>{PROMPT} ASSISTANT:"  # via the processor's chat template
    imgs = frames_of(scenes(3))
    batch = eng.backend.prepare(imgs)
    # Every frame of every scene, in prompt order: the processed frames equal each frame processed on its own.
    ip = eng.backend.processor.image_processor
    assert batch["pixel_values"].shape[0] == 6
    for k, im in enumerate([im for f in imgs for im in f]):
        assert torch.equal(batch["pixel_values"][k], ip(im, return_tensors="pt")["pixel_values"][0])
    assert batch["image_sizes"].tolist() == [[48, 64]] * 6
    tok = eng.backend.tokenizer
    assert tok.padding_side == "left"
    # Each row: the prompt with both frames' image tokens expanded (as many as for each frame alone).
    image_id = tok.convert_tokens_to_ids("<image>")
    alone = eng.backend.processor(text=[eng.backend.text(1)], images=[imgs[0][0]], return_tensors="pt")
    per_frame = int((alone["input_ids"] == image_id).sum())
    assert per_frame > 0 and (batch["input_ids"] == image_id).sum(dim=1).tolist() == [2 * per_frame] * 3
    row = batch["input_ids"][0][batch["attention_mask"][0].bool()]
    assert tok.decode(row[row != image_id], skip_special_tokens=True) == f"user : {PROMPT.lower()} assistant :"


@pytest.mark.parametrize("fixture", ["tiny_llava_next", "tiny_qwen2_vl", "tiny_instructblip"])
def test_batched_equals_single_calls(fixture, request):
    """B scenes in one generate call give the same tokens as B single calls (greedy; InstructBLIP: beam search)."""
    eng = agent(request.getfixturevalue(fixture), max_new_tokens=12).engine
    imgs = frames_of(scenes(4))
    batched = [r.token_ids for r in eng.generate(imgs)]
    single = [eng.generate([x])[0].token_ids for x in imgs]
    assert batched == single
    assert all(len(ids) > 0 for ids in batched)


# ---------------------------------------------------------------------------------------------- generic
def test_generic_backend_prompts_any_image_text_to_text_model(tiny_qwen2_vl):
    a = agent(tiny_qwen2_vl)
    eng = a.engine
    assert type(eng.backend) is VlmBackend and type(eng.model).__name__ == "Qwen2VLForConditionalGeneration"
    assert eng.backend.text(2) == ("<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>"
                                   f"<|vision_start|><|image_pad|><|vision_end|>{PROMPT}<|im_end|>\n"
                                   "<|im_start|>assistant\n")
    imgs = frames_of(scenes(2))
    batch = eng.backend.prepare(imgs)
    # Two frames a scene, two scenes: four image grids; the processor expanded each image's placeholder.
    assert batch["image_grid_thw"].shape[0] == 4
    one = eng.backend.processor.image_processor(imgs[0][0], return_tensors="pt")
    assert torch.equal(batch["pixel_values"][:one["pixel_values"].shape[0]], one["pixel_values"])
    out = a.process_batch(scenes(2))
    assert all(c.error is None and c.caption for c in out)


# ---------------------------------------------------------------------------------------------- InstructBLIP
def test_panorama_is_frames_side_by_side():
    red, blue = Image.new("RGB", (597, 336), "red"), Image.new("RGB", (597, 336), "blue")
    out = panorama([red, blue])
    assert out.size == (1194, 336)
    assert out.getpixel((10, 10)) == (255, 0, 0) and out.getpixel((1190, 10)) == (0, 0, 255)
    mixed = panorama([Image.new("RGB", (600, 400)), Image.new("RGB", (300, 200))])
    assert mixed.size == (600, 200)  # scaled to the smaller height: 300 + 300


def test_instructblip_stitches_frames_and_uses_beam_search(tiny_instructblip):
    eng = agent(tiny_instructblip, max_new_tokens=12).engine
    assert type(eng.backend) is InstructBlip
    assert eng.generation == {"max_new_tokens": 12, "num_beams": 5, "min_new_tokens": 10, "repetition_penalty": 1.0,
                              "no_repeat_ngram_size": 0}
    imgs = frames_of(scenes(3))
    assert eng.backend.text(2) == PROMPT
    [pano] = eng.backend.images(imgs[0])
    assert pano.size == (128, 48)  # two 64x48 keyframes side by side
    batch = eng.backend.prepare(imgs)
    assert batch["pixel_values"].shape == (3, 3, 32, 32)  # one stitched panorama a scene
    ip = eng.backend.processor.image_processor
    assert torch.equal(batch["pixel_values"][0], ip(pano, return_tensors="pt")["pixel_values"][0])
    tok = eng.backend.tokenizer
    assert tok.decode(batch["qformer_input_ids"][0], skip_special_tokens=True) == PROMPT.lower()
    assert tok.decode(batch["input_ids"][0], skip_special_tokens=True) == PROMPT.lower()


def test_instructblip_min_new_tokens(tiny_instructblip, tmp_path):
    """A model that would end at once (end-of-sequence always wins) still writes 10 tokens: the seed's min length."""
    from transformers import InstructBlipForConditionalGeneration

    tok = tokenizer("<image>")
    eager = rewired(tiny_instructblip, tmp_path / "eager-eos", InstructBlipForConditionalGeneration,
                    {tok.sep_token_id: 10.0, 2000: 5.0})
    eng = agent(eager, max_new_tokens=50, repeat_times=1000).engine
    [r] = eng.generate(frames_of(scenes(1)))
    assert r.token_ids == [2000] * 10 and r.stop == "eos"
    [r] = agent(eager, max_new_tokens=50, min_new_tokens=0).engine.generate(frames_of(scenes(1)))
    assert r.token_ids == [] and r.stop == "eos"


# ---------------------------------------------------------------------------------------------- Phi-3.5-Vision
class StandInPhiProcessor:
    """Records how it is called, as Phi-3.5-Vision's hub processor would be: (text, images, return_tensors)."""

    def __init__(self):
        self.calls = []
        self.tokenizer = type("Tok", (), {"eos_token_id": 32000})()

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        return {"input_ids": torch.tensor([[1, -1, -1, -2, -2, 450]])}


def test_phi35_vision_prompt_and_images():
    s = CaptionerSettings.from_options({"backend": "phi3v"})
    assert s.model == "microsoft/Phi-3.5-vision-instruct"
    proc = StandInPhiProcessor()
    phi = Phi3Vision(proc, s.prompt)
    imgs = [Image.new("RGB", (64, 48), "red"), Image.new("RGB", (64, 48), "blue")]
    phi.prepare([imgs])
    [(args, kwargs)] = proc.calls
    assert args[0] == f"<|user|>\n<|image_1|>\n<|image_2|>\n{PROMPT}<|end|>\n<|assistant|>\n"
    assert args[1] == imgs and args[1][0] is imgs[0] and args[1][1] is imgs[1]  # both frames, in tag order
    assert kwargs == {"return_tensors": "pt"}
    with pytest.raises(ValueError):
        phi.prepare([imgs, imgs])  # its processor takes one prompt: the engine sends one scene per call
    assert Phi3Vision.max_batch == 1 and Phi3Vision.remote_code
    assert Phi3Vision.processor_options(s) == {"num_crops": 4}
    from transformers import AutoModelForCausalLM

    assert Phi3Vision.model_class() is AutoModelForCausalLM
    opts = phi.generate_options()
    assert opts["eos_token_id"] == 32000 and isinstance(opts["past_key_values"], LegacyDynamicCache)  # cache ON
    assert opts["past_key_values"] is not phi.generate_options()["past_key_values"]  # a fresh cache every call
    assert Phi3Vision.defaults["num_beams"] == 1 and Phi3Vision.defaults["max_new_tokens"] == 256
    # Its hub code has eager and flash-attention-2 only: auto picks eager without CUDA, sdpa is refused.
    assert load_options(s, "cpu", Phi3Vision)["attn_implementation"] == "eager"
    with pytest.raises(ConfigError, match="supports attn eager or flash_attention_2, not sdpa"):
        load_options(CaptionerSettings.from_options({"backend": "phi3v", "attn": "sdpa"}), "cpu", Phi3Vision)


def test_backend_follows_the_model_type_without_running_hub_code(tmp_path):
    import json

    from scenestream.agents.captioner.hf import backend_class

    (tmp_path / "config.json").write_text(json.dumps({
        "model_type": "phi3_v", "auto_map": {"AutoConfig": "configuration_phi3_v.Phi3VConfig"}}))
    assert backend_class(CaptionerSettings.from_options({"model": str(tmp_path)}), str(tmp_path)) is Phi3Vision
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl"}))
    assert backend_class(CaptionerSettings.from_options({"model": str(tmp_path)}), str(tmp_path)) is VlmBackend


def test_phi35_cache_shim_behaves_like_the_cache_it_replaces():
    """The methods Phi-3.5-Vision's hub code calls, on a real transformers generate with the cache on."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(3)
    model = LlamaForCausalLM(LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=2, num_key_value_heads=2, vocab_size=100)).eval()
    ids = torch.tensor([[5, 6, 7, 8]])
    plain = model.generate(ids, max_new_tokens=5, do_sample=False, use_cache=True)
    cache = LegacyDynamicCache()
    shimmed = model.generate(ids, max_new_tokens=5, do_sample=False, use_cache=True, past_key_values=cache)
    assert torch.equal(plain, shimmed)
    assert cache.seen_tokens == cache.get_seq_length() == 8  # 4 prompt + 5 new, the last not yet fed back
    assert cache.get_usable_length(1, 0) == 8 and cache.get_max_length() is None
    again = LegacyDynamicCache.from_legacy_cache(cache.to_legacy_cache())
    assert again.seen_tokens == 8 and len(again.to_legacy_cache()) == 2


# ---------------------------------------------------------------------------------------------- quantisation
@pytest.mark.parametrize("mode,layer", [("4bit", "Linear4bit"), ("8bit", "Linear8bitLt")])
def test_quantised_paths_run_for_real_on_the_cpu(tiny_llava_next_64, mode, layer):
    import bitsandbytes as bnb

    a = agent(tiny_llava_next_64, quantization=mode)
    model = a.engine.model
    quantised = [m for m in model.modules() if isinstance(m, getattr(bnb.nn, layer))]
    assert quantised and all(m.in_features % 64 == 0 for m in quantised)  # the fixture fits the 4-bit block
    qc = model.config.quantization_config
    if mode == "4bit":
        assert qc.load_in_4bit and qc.bnb_4bit_quant_type == "nf4" and qc.bnb_4bit_compute_dtype == torch.float32
    else:
        assert qc.load_in_8bit
    [c] = a.process(scenes(1)[0])
    assert c.error is None and c.caption


# ---------------------------------------------------------------------------------------------- guards
def test_repetition_guard_stops_a_runaway(runaway):
    eng = agent(runaway, max_new_tokens=200).engine
    [r] = eng.generate([[Image.new("RGB", (64, 48))]])
    assert r.token_ids == [2000] * 3 and r.stop == "repetition"  # cut after 3 repeats, not 200 tokens


def test_time_limit_stops_a_runaway(runaway):
    eng = agent(runaway, max_new_tokens=100000, repeat_times=1_000_000, time_limit=0.5).engine
    [r] = eng.generate([[Image.new("RGB", (64, 48))]])
    assert r.stop == "time_limit" and 0 < len(r.token_ids) < 100000 and set(r.token_ids) == {2000}


def test_token_limit_and_repetition_options_reach_generate(runaway):
    eng = agent(runaway, max_new_tokens=7, repeat_times=1000).engine
    [r] = eng.generate([[Image.new("RGB", (64, 48))]])
    assert r.token_ids == [2000] * 7 and r.stop == "max_new_tokens"
    # no_repeat_ngram_size=1 forbids a token's second use: the runaway has to pick something else.
    eng = agent(runaway, max_new_tokens=4, repeat_times=1000, no_repeat_ngram_size=1).engine
    [r] = eng.generate([[Image.new("RGB", (64, 48))]])
    assert r.token_ids[0] == 2000 and 2000 not in r.token_ids[1:]


# ---------------------------------------------------------------------------------------------- the agent
def test_agent_records_carry_latency_model_times_and_errors(tiny_llava_next):
    a = agent(tiny_llava_next, max_batch=2)
    assert a.max_batch == 2 and a.batch_wait == 0.05
    batch = scenes(3)
    batch[1].keyframes[0].jpeg = b"not a jpeg"
    batch.append(Scene("v", 3, 6.0, 8.0, [], last=True))
    out = a.process_batch(batch)
    assert [(c.index, c.start, c.end, c.last) for c in out] == [(0, 0.0, 2.0, False), (1, 2.0, 4.0, False),
                                                                 (2, 4.0, 6.0, False), (3, 6.0, 8.0, True)]
    assert all(c.model == str(tiny_llava_next) for c in out)
    for c in (out[0], out[2]):
        assert c.error is None and c.caption and c.latency > 0
    assert out[0].keyframe_times == [0.0, 1.0]
    assert out[1].error.startswith("UnidentifiedImageError") and out[1].caption == ""
    assert out[3].error == "ValueError: scene has no keyframes"
    # Captioned in batches of max_batch=2 or alone, the captions are the same.
    assert [c.caption for c in a.process_batch(scenes(3))] == [a.process(s)[0].caption for s in scenes(3)]


def test_a_corrupt_keyframe_is_pillows_error_with_ultralytics_loaded():
    """ultralytics (the detector's import, same process in the embedded runtime) patches PIL.Image.open to look for
    a HEIF plugin on unreadable images; the captioner's error must not depend on which agents are loaded."""
    from PIL import UnidentifiedImageError

    import ultralytics.utils.patches  # noqa: F401

    from scenestream.agents.captioner import _decode

    [scene] = scenes(1)
    scene.keyframes[1].jpeg = b"not a jpeg"
    with pytest.raises(UnidentifiedImageError):
        _decode(scene)


def test_impossible_options_fail_at_start_up_with_one_line(tiny_llava_next, monkeypatch):
    with pytest.raises(ConfigError, match="flash_attention_2 needs a CUDA device") as err:
        agent(tiny_llava_next, attn="flash_attention_2")
    assert "\n" not in str(err.value)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            agent(tiny_llava_next, device="cuda")
    monkeypatch.setitem(__import__("sys").modules, "bitsandbytes", None)  # as where its native library won't load
    with pytest.raises(ConfigError, match="quantization=4bit needs bitsandbytes, which cannot load here"):
        agent(tiny_llava_next, quantization="4bit")
    monkeypatch.undo()
    for bad in ({"quantization": "3bit"}, {"backend": "blip9"}, {"dtype": "fp8"}, {"backend": "generic"},
                {"max_batch": 0}, {"num_beams": "many"}):
        with pytest.raises(ConfigError):
            CaptionerAgent.from_options(bad)
    with pytest.raises(ConfigError, match="could not be loaded"):
        agent("no-such-org/no-such-model")


def test_defaults():
    s = CaptionerSettings.from_options({})
    assert (s.backend, s.model) == ("offline", "efficientnet-lite0")
    assert CaptionerAgent.from_options({}).model_id == "offline:efficientnet-lite0"
    assert CaptionerSettings.from_options({"backend": "llava-next"}).model == "llava-hf/llava-v1.6-mistral-7b-hf"
    assert CaptionerSettings.from_options({"backend": "instructblip"}).model == "Salesforce/instructblip-vicuna-7b"
    assert CaptionerSettings.from_options({"model": "x/y"}).backend == ""  # decided by the model's config
    # The seed's `min_length` (new tokens) still works; `min_new_tokens` wins when both are given.
    assert CaptionerSettings.from_options({"min_length": 3}).generation({})["min_new_tokens"] == 3
    assert CaptionerSettings.from_options({"min_length": 3, "min_new_tokens": 5}).generation({})["min_new_tokens"] == 5


def test_with_no_model_named_cuda_and_a_network_get_a_7b_vlm_everything_else_the_offline_captioner(monkeypatch):
    import scenestream.agents.models as models
    from scenestream.agents.captioner.settings import default_captioner

    for name in ("HF_HUB_OFFLINE", "SCENESTREAM_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(models, "_hub_cached", lambda model: False)
    monkeypatch.setattr(models, "_reachable", {})
    # No traffic leaves the test: whether the hub answers is set here.
    monkeypatch.setattr(models, "reachable", lambda url, timeout=3.0: True)
    monkeypatch.setattr(models, "pick_device", lambda device: "cuda")
    assert default_captioner("auto") == ("llava-next", "llava-hf/llava-v1.6-mistral-7b-hf")
    assert CaptionerSettings.from_options({}).backend == "llava-next"
    monkeypatch.setattr(models, "reachable", lambda url, timeout=3.0: False)  # the hub out of reach: the pack's
    assert default_captioner("auto") == ("offline", "efficientnet-lite0")
    monkeypatch.setattr(models, "reachable", lambda url, timeout=3.0: True)
    monkeypatch.setattr(models, "pick_device", lambda device: "cpu")  # a CPU: small VLMs cost too much (bench)
    assert default_captioner("auto") == ("offline", "efficientnet-lite0")
    monkeypatch.setattr(models, "pick_device", lambda device: "cuda")
    monkeypatch.setenv("SCENESTREAM_OFFLINE", "1")
    assert default_captioner("auto") == ("offline", "efficientnet-lite0")


# ---------------------------------------------------------------------------------------------- offline
def test_offline_captioner_names_the_bus():
    a = CaptionerAgent.from_options({})
    a.setup()
    bus = jpeg(media.bus_jpg())
    [c] = a.process(Scene("v", 0, 10.0, 13.2, [Keyframe(10.0, bus), Keyframe(11.6, bus)], last=True))
    assert c.model == "offline:efficientnet-lite0" and c.error is None and c.last
    assert {"minibus", "school bus", "trolleybus", "passenger car", "streetcar"} & set(c.labels[:2]), c.labels
    assert c.caption.startswith("A 3.2-second scene whose frames look like ") and c.labels[0] in c.caption
    assert c.keyframe_times == [10.0, 11.6] and c.latency > 0


def test_compose_offline_caption():
    assert compose_offline_caption(["minibus", "streetcar", "police van", "limousine"], {"person": 4, "car": 1},
                                   ["Speech", "Music", "Speech"], "  Hello   there. ", 3.24) == (
        'A 3.2-second scene whose frames look like minibus, streetcar and police van. Tracked: 1 car and 4 persons. '
        'Sounds: speech and music. Speech: "Hello there."')
    assert compose_offline_caption([], {}, [], "", 2.0) == "A 2.0-second scene."
