"""xling's fairseq-free core, shared by the plugin (``fairseq_ext``), the corpus pipeline
(``preprocess``) and the launcher (``slurm``): importing it imports neither fairseq nor
torch, so ``python -m slurm.launch status`` and config checks stay light.

- ``settings``: the registry of the paper's Table 1 settings;
- ``config_loader``: how every command reads its config (``ConfigError``);
- ``files``: atomic writes (temporary name, then rename);
- ``run_lock``: one writer per run folder;
- ``interrupts``: Ctrl-C / SIGTERM as a clean stop that a rerun resumes.
"""
