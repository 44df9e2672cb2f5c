"""A query encoder without torch: the space's model exported once to ONNX.

Searches embed one short text per call, and importing torch plus loading the model costs
seconds in every fresh process (agents call `search` in loops). After an embed step the
model's transformer is exported with `torch.onnx.export` into `models/<space>/`, checked to
give the torch vectors (cosine >= 0.999 on the space's own texts), and from then on
queries are embedded with onnxruntime and the `tokenizers` library, which import in
~0.15 s. Only models that are a transformer with mean pooling are exported; others keep
the torch path. The file's SHA-256 is written beside it and checked on every open.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np

from ..checksums import file_sha256
from ..workspace import Workspace
from .embedders import CPU_TOKEN_BUDGET, MAX_EMBED_CHARS, normalize, token_batches

MIN_COSINE = 0.999
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def encoder_dir(ws: Workspace, space_id: str) -> Path:
    return ws.root / "models" / space_id


def has_export(ws: Workspace, space_id: str) -> bool:
    """Whether the space has an export on disk (not yet checked: loading checks it)."""
    return (encoder_dir(ws, space_id) / "model.onnx").exists()


class OnnxQueryEncoder:
    """Embeds texts like the space's sentence-transformers model, through onnxruntime."""

    provider = "sentence-transformers"

    def __init__(self, folder: Path, manifest: dict) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self.model = manifest["model"]
        self.folder = folder
        self._dim = int(manifest["dim"])
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(int(manifest["max_seq_length"]))
        self._tokenizer.no_padding()  # the saved file may pad to a fixed length; see embed
        self._pad_id = int(manifest["pad_id"])
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # its warnings are not the user's business
        self._session = onnxruntime.InferenceSession(
            str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )

    def dimension(self) -> int:
        return self._dim

    def embed(self, texts: list[str]) -> np.ndarray:
        """Vectors in the order of `texts`, batched by token count as the torch embedder
        does on CPU: one paste among short queries would otherwise pad its whole batch to
        the model's limit (32 real prompts with six pastes: 1.5 s -> 0.4 s)."""
        encodings = self._tokenizer.encode_batch([text[:MAX_EMBED_CHARS] for text in texts])
        tokens = np.array([len(encoding.ids) for encoding in encodings], np.int64)
        vectors = np.zeros((len(texts), self._dim), np.float32)
        for batch in token_batches(tokens, CPU_TOKEN_BUDGET):
            vectors[batch] = self._embed_batch([encodings[i] for i in batch])
        return vectors

    def _embed_batch(self, encodings: list) -> np.ndarray:
        width = max(len(encoding.ids) for encoding in encodings)
        ids = np.full((len(encodings), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        tokens = self._session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (tokens * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return normalize(pooled)


def checked_manifest(ws: Workspace, space_id: str, model: str) -> dict | None:
    """The export's manifest when the export is for `model` and its file matches its
    checksum; None when there is none or it is damaged."""
    folder = encoder_dir(ws, space_id)
    try:
        manifest = json.loads((folder / "encoder.json").read_text(encoding="utf-8"))
        if manifest.get("model") != model:
            return None
        if file_sha256(folder / "model.onnx") != manifest.get("sha256"):
            return None
    except (OSError, ValueError, AttributeError):
        return None
    return manifest


def load_query_encoder(ws: Workspace, space_id: str, model: str) -> OnnxQueryEncoder | None:
    """The space's exported encoder, or None (then the torch model is used, and the next
    embed step exports it again)."""
    manifest = checked_manifest(ws, space_id, model)
    if manifest is None:
        return None
    try:
        return OnnxQueryEncoder(encoder_dir(ws, space_id), manifest)
    except ImportError:  # onnxruntime missing: an install without it still searches
        return None
    except Exception:  # noqa: BLE001 - onnxruntime refuses a file it cannot read: use torch
        return None


def export_query_encoder(ws: Workspace, space_id: str, embedder, sample_texts: list[str]) -> str:
    """Export the loaded sentence-transformers `embedder` for the space; return one line
    saying what happened (exported, or why not). Never raises for an export problem."""
    try:
        encoder = embedder._load()
    except Exception as error:  # noqa: BLE001 - the model loaded a moment ago; report and go on
        return f"query encoder not exported: {error}"
    reason = _unsupported(encoder)
    if reason:
        return f"query encoder not exported: {reason}; searches use torch"
    folder = encoder_dir(ws, space_id)
    partial = folder.with_name(folder.name + ".partial")
    try:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        _export_transformer(encoder, partial / "model.onnx")
        encoder.tokenizer.backend_tokenizer.save(str(partial / "tokenizer.json"))
        manifest = {
            "model": embedder.model,
            "dim": int(embedder.dimension()),
            "max_seq_length": int(encoder.max_seq_length),
            "pad_id": int(encoder.tokenizer.pad_token_id or 0),
            "sha256": file_sha256(partial / "model.onnx"),
        }
        (partial / "encoder.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        cosine = _agreement(OnnxQueryEncoder(partial, manifest), embedder, sample_texts)
        if cosine < MIN_COSINE:
            shutil.rmtree(partial, ignore_errors=True)
            return f"query encoder not exported: ONNX vectors differ (cosine {cosine:.4f})"
        manifest["min_cosine_to_torch"] = round(cosine, 6)
        (partial / "encoder.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(partial, folder)
    except ImportError as error:
        shutil.rmtree(partial, ignore_errors=True)
        return f"query encoder not exported ({error.name} is not installed); searches use torch"
    except Exception as error:  # noqa: BLE001 - an export failure must not fail the embed step
        shutil.rmtree(partial, ignore_errors=True)
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        return f"query encoder not exported: {first_line[:160]}; searches use torch"
    return f"query encoder exported to {folder} (cosine to torch {cosine:.5f})"


def _unsupported(encoder) -> str | None:
    """Why this model cannot be exported as transformer + mean pooling, or None."""
    names = [type(module).__name__ for module in encoder]
    if names not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        return f"modules {names} are not a transformer with pooling"
    config = encoder[1].get_config_dict()
    mean = config.get("pooling_mode") == "mean" or config.get("pooling_mode_mean_tokens")
    if not mean or config.get("include_prompt", True) is not True:
        return "its pooling is not a mean of tokens"
    return None


def _export_transformer(encoder, target: Path) -> None:
    import torch

    # A float32 CPU copy: the embedder's own model may be fp16 on a GPU and stays as it is.
    transformer = copy.deepcopy(encoder[0].auto_model).float().cpu().eval()

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    example = torch.ones((2, 8), dtype=torch.long)
    dynamic = {name: {0: "batch", 1: "tokens"} for name in (*_INPUTS, "token_embeddings")}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about shapes, not the user's business
        torch.onnx.export(
            TokenEmbeddings(),
            (example, example, torch.zeros_like(example)),
            str(target),
            input_names=list(_INPUTS),
            output_names=["token_embeddings"],
            dynamic_axes=dynamic,
            opset_version=17,
            dynamo=False,
        )


def _agreement(onnx_encoder: OnnxQueryEncoder, embedder, texts: list[str]) -> float:
    """The lowest cosine between ONNX and torch vectors of the same texts."""
    texts = [text for text in texts if text.strip()][:32] or ["a query about databases"]
    reference = embedder.embed(texts)
    exported = onnx_encoder.embed(texts)
    return float(np.min(np.sum(reference * exported, axis=1)))
