"""xling on SLURM: pretraining jobs and the paper's grid, submitted through submitit.

``python -m slurm.launch {pretrain,grid,status}`` (see ``--help``); ``slurm/local_cluster.sh``
starts a one-node cluster on this machine. Without a cluster, jobs run through submitit's
local executor along the same code path.
"""
