"""Loads exported folders with transformers alone, in a fresh process, as a user would.

``python hf_reload_probe.py REQUEST.json OUT_DIR``: for each job (a folder and texts) it
writes the tokenizer's ids, the padded batch it feeds the model, the logits
(``OUT_DIR/<job>.npy``) and the fill-mask pipeline's predictions for one masked text.
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer, pipeline

request, out = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8")), Path(sys.argv[2])
results = {}
for index, (job, spec) in enumerate(request.items()):
    tokenizer = AutoTokenizer.from_pretrained(spec["folder"])
    model = AutoModelForMaskedLM.from_pretrained(spec["folder"]).eval()
    batch = tokenizer(spec["texts"], padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        np.save(out / f"{index}.npy", model(**batch).logits.numpy())
    fill_mask = pipeline("fill-mask", model=spec["folder"])
    results[job] = {
        "logits": f"{index}.npy",
        "ids": tokenizer(spec["texts"])["input_ids"],
        "batch": batch["input_ids"].tolist(),
        "attention_mask": batch["attention_mask"].tolist(),
        "masked_ids": tokenizer(spec["masked_text"])["input_ids"],
        "fill_mask": fill_mask(spec["masked_text"], top_k=3),
    }
results_file = out / "results.json"
results_file.write_text(json.dumps({"jobs": results, "fairseq_imported": "fairseq" in sys.modules}), encoding="utf-8")
