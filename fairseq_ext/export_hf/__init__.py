"""Hugging Face export of xling_roberta checkpoints: ``python -m fairseq_ext.export_hf CHECKPOINT OUT``.

- ``weights``: the checkpoint's raw state dict, and one language's model as XLM-R weights;
- ``tokenizer``: a sentencepiece model and a fast tokenizer whose ids are the model's;
- ``check``: the exported folder, reloaded by transformers, against fairseq;
- ``export``: the output layout, the model card, and writing without partial output.
"""

from fairseq_ext.export_hf.check import ExportCheckError  # noqa: F401
from fairseq_ext.export_hf.export import export  # noqa: F401
