"""Tiny random-weight checkpoints for the neural backends, built offline from configs.

Each `save_*` function builds the real model classes at toy size (a couple of layers,
widths of 8-32), creates its tokenizer from an in-memory vocabulary, and writes them with
`save_pretrained` (or, for laion-clap, `torch.save` of the state dict in the layout the
original checkpoints use). The backends then load these folders exactly as they load a
real checkpoint: `from_pretrained(path, local_files_only=True)`. Nothing touches the network.

Tokenizers: a byte-level BPE with no merges (every byte is a token) reads any text,
English or Chinese, in ~260 tokens; T5's Unigram gets a vocabulary of single characters.
"""

from __future__ import annotations

import string
from pathlib import Path

import torch

# A chat template for the tiny LLM: the planner formats its messages through it.
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def byte_vocab(specials: list[str]) -> dict[str, int]:
    """Specials first, then the 256 byte symbols of GPT-2's byte-level alphabet."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab = {s: i for i, s in enumerate(specials)}
    for ch in bytes_to_unicode().values():
        vocab.setdefault(ch, len(vocab))
    return vocab


def t5_tokenizer(max_length: int = 64):
    """A T5 (Unigram) tokenizer over single characters, with and without the word marker."""
    from transformers import T5Tokenizer

    chars = string.ascii_letters + string.digits + string.punctuation
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    vocab += [("▁" + c, -3.0) for c in chars] + [(c, -4.0) for c in chars]
    return T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=max_length)


def qwen_tokenizer(chat_template: str | None = None):
    """Byte-level BPE in Qwen's format (ACE-Step's text encoder and the planner LLM)."""
    from transformers import Qwen2Tokenizer

    vocab = byte_vocab(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    tok = Qwen2Tokenizer(vocab=vocab, merges=[], model_max_length=4096)
    if chat_template:
        tok.chat_template = chat_template
    return tok


def roberta_tokenizer(max_length: int = 77):
    from transformers import RobertaTokenizer

    vocab = byte_vocab(["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    return RobertaTokenizer(vocab=vocab, merges=[], model_max_length=max_length)


def save_stable_audio(path: str | Path, sampling_rate: int = 2000, window_s: float = 4.0, seed: int = 0) -> Path:
    """A tiny StableAudioPipeline: VAE at `sampling_rate` Hz (hop 8), a window of `window_s`."""
    from diffusers import (AutoencoderOobleck, CosineDPMSolverMultistepScheduler, StableAudioDiTModel,
                           StableAudioPipeline, StableAudioProjectionModel)
    from transformers import T5Config, T5EncoderModel

    hop = 8  # prod(downsampling_ratios): latent frames are sampling_rate / 8 per second
    torch.manual_seed(seed)
    transformer = StableAudioDiTModel(
        sample_size=int(window_s * sampling_rate / hop), in_channels=3, num_layers=2, attention_head_dim=4,
        num_attention_heads=2, num_key_value_attention_heads=1, out_channels=3, cross_attention_dim=4,
        time_proj_dim=8, global_states_input_dim=8, cross_attention_input_dim=4)
    vae = AutoencoderOobleck(encoder_hidden_size=6, downsampling_ratios=[2, 4], decoder_channels=3,
                             decoder_input_channels=3, audio_channels=2, channel_multiples=[2, 4],
                             sampling_rate=sampling_rate)
    tokenizer = t5_tokenizer()
    text_encoder = T5EncoderModel(T5Config(vocab_size=len(tokenizer), d_model=16, d_kv=4, d_ff=32, num_layers=1,
                                           num_heads=2, decoder_start_token_id=0))
    projection = StableAudioProjectionModel(text_encoder_dim=16, conditioning_dim=4, min_value=0, max_value=512)
    scheduler = CosineDPMSolverMultistepScheduler(solver_order=2, prediction_type="v_prediction", sigma_data=1.0,
                                                  sigma_schedule="exponential")
    pipe = StableAudioPipeline(vae=vae, text_encoder=text_encoder, projection_model=projection, tokenizer=tokenizer,
                               transformer=transformer, scheduler=scheduler)
    pipe.save_pretrained(path)
    return Path(path)


def save_ace_step(path: str | Path, sampling_rate: int = 200, seed: int = 0) -> Path:
    """A tiny AceStepPipeline (base, not turbo: guidance runs), VAE at `sampling_rate` Hz, hop 8."""
    from diffusers import AceStepPipeline, AutoencoderOobleck, FlowMatchEulerDiscreteScheduler
    from diffusers.models.transformers.ace_step_transformer import AceStepTransformer1DModel
    from diffusers.pipelines.ace_step import AceStepConditionEncoder
    from transformers import Qwen3Config, Qwen3Model

    torch.manual_seed(seed)
    transformer = AceStepTransformer1DModel(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        head_dim=8, in_channels=24, audio_acoustic_hidden_dim=8, patch_size=2, rope_theta=10000.0, sliding_window=16)
    tokenizer = qwen_tokenizer()
    text_encoder = Qwen3Model(Qwen3Config(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                          num_attention_heads=4, num_key_value_heads=2, head_dim=8,
                                          vocab_size=len(tokenizer), max_position_embeddings=4096))
    condition_encoder = AceStepConditionEncoder(
        hidden_size=32, intermediate_size=64, text_hidden_dim=32, timbre_hidden_dim=8,
        num_lyric_encoder_hidden_layers=1, num_timbre_encoder_hidden_layers=1, num_attention_heads=4,
        num_key_value_heads=2, head_dim=8, rope_theta=10000.0, sliding_window=16)
    vae = AutoencoderOobleck(encoder_hidden_size=6, downsampling_ratios=[2, 4], decoder_channels=3,
                             decoder_input_channels=8, audio_channels=2, channel_multiples=[2, 4],
                             sampling_rate=sampling_rate)
    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1, shift=1.0)
    pipe = AceStepPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, transformer=transformer,
                           condition_encoder=condition_encoder, scheduler=scheduler)
    pipe.save_pretrained(path)
    return Path(path)


def save_clap(path: str | Path, window_s: int = 2, seed: int = 0) -> Path:
    """A tiny transformers ClapModel + ClapProcessor: 16 mel bins, `window_s`-second windows at 48 kHz."""
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor

    torch.manual_seed(seed)
    tokenizer = roberta_tokenizer()
    config = ClapConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=80),
        audio_config=dict(window_size=4, num_mel_bins=16, spec_size=64, patch_embeds_hidden_size=8, hidden_size=16,
                          depths=[1, 1], num_attention_heads=[2, 2], num_classes=4),
        projection_dim=8)
    model = ClapModel(config).eval()
    features = ClapFeatureExtractor(feature_size=16, sampling_rate=48000, hop_length=480, max_length_s=window_s,
                                    fft_window_size=1024, truncation="rand_trunc", padding="repeatpad")
    ClapProcessor(feature_extractor=features, tokenizer=tokenizer).save_pretrained(path)
    model.save_pretrained(path)
    return Path(path)


def save_laion_text_models(folder: str | Path, seed: int = 0) -> Path:
    """The folder laion-clap's `text_models` option points at: tiny stand-ins for the
    `roberta-base`, `bert-base-uncased` and `facebook/bart-base` it loads by name (tokenizers
    at import, roberta weights when it builds its model). roberta is 768 wide, which
    laion-clap's text projection expects; one layer keeps it small."""
    from transformers import BartTokenizer, BertTokenizer, RobertaConfig, RobertaModel

    folder = Path(folder)
    roberta = roberta_tokenizer()
    roberta.save_pretrained(folder / "roberta-base")
    torch.manual_seed(seed)
    RobertaModel(RobertaConfig(vocab_size=len(roberta), hidden_size=768, num_hidden_layers=1, num_attention_heads=12,
                               intermediate_size=64, max_position_embeddings=80, pad_token_id=1)).save_pretrained(
        folder / "roberta-base")
    BartTokenizer(vocab=byte_vocab(["<s>", "<pad>", "</s>", "<unk>", "<mask>"]), merges=[]).save_pretrained(
        folder / "facebook" / "bart-base")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list(string.ascii_lowercase + string.digits)
    BertTokenizer(vocab={w: i for i, w in enumerate(words)}).save_pretrained(folder / "bert-base-uncased")
    return folder


def hf_cache_from(text_models: Path, cache: str | Path) -> Path:
    """The same text models laid out as a Hugging Face hub cache (for HF_HUB_CACHE with
    HF_HUB_OFFLINE=1): models--<org>--<name>/snapshots/<commit>/ and refs/main."""
    import shutil

    cache = Path(cache)
    commit = "0" * 40
    for name in ("roberta-base", "bert-base-uncased", "facebook/bart-base"):
        repo = cache / ("models--" + name.replace("/", "--"))
        shutil.copytree(text_models / name, repo / "snapshots" / commit)
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text(commit)
    return cache


def save_laion_checkpoint(path: str | Path, text_models: Path, amodel: str = "HTSAT-tiny", seed: int = 0) -> Path:
    """A random-weight laion-clap CLAP model of architecture `amodel`, built by the laion-clap
    package itself, saved as an original training checkpoint (write_laion_checkpoint)."""
    from songfarm.models.verifiers import laion

    with laion._working_dir(text_models), laion._torchvision_for_import():
        import laion_clap

        torch.manual_seed(seed)
        module = laion_clap.CLAP_Module(enable_fusion=False, device="cpu", amodel=amodel)
    return write_laion_checkpoint(module.model, path)


def write_laion_checkpoint(model: torch.nn.Module, path: str | Path) -> Path:
    """Save a laion-clap CLAP model's weights as the original training checkpoints are laid
    out: {"state_dict": {"module.<name>": tensor}} (DDP prefix), with the position_ids buffer
    that older transformers kept and laion-clap's loader deletes; fp16 to keep the file small."""
    state = {"module." + k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    state["module.text_branch.embeddings.position_ids"] = torch.arange(80)[None]
    torch.save({"epoch": 1, "state_dict": state}, path)
    return Path(path)


def save_causal_lm(path: str | Path, seed: int = 0) -> Path:
    """A tiny Qwen2 causal LM with a byte-level tokenizer and a chat template."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    tokenizer = qwen_tokenizer(CHAT_TEMPLATE)
    model = Qwen2ForCausalLM(Qwen2Config(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                                         max_position_embeddings=4096, eos_token_id=tokenizer.eos_token_id,
                                         pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True))
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return Path(path)


def toy_plan(bars: tuple[int, ...] = (2, 4, 2), bpm: float = 120.0, tonic: str = "C", mode: str = "major",
             lyrics: tuple[str | None, ...] | None = None, genre: str = "lo-fi hip hop"):
    """A small valid SongPlan built directly (no planner): intro / verse / … sections of `bars`."""
    from songfarm.models.plan import SECTION_NAMES, Section, SongPlan

    names = ["intro", "verse", "chorus", "bridge", "outro"]
    lyrics = lyrics or (None,) * len(bars)
    sections = [Section(names[i % len(names)] if i < len(bars) - 1 else "outro", b, 0.3 + 0.5 * (i % 2),
                        [tonic] * b, lyrics[i]) for i, b in enumerate(bars)]
    assert all(s.name in SECTION_NAMES for s in sections)
    plan = SongPlan(prompt="a toy song", language="en", bpm=bpm, tonic=tonic, mode=mode, beats_per_bar=4,
                    beat_unit=4, genre=genre, style="lofi", moods=["relaxed"], instruments=["piano", "drum kit"],
                    sections=sections, duration_s=sum(bars) * 4 * 60.0 / bpm)
    plan.check()
    return plan
