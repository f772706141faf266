"""``make demo``: the paper's study in miniature on the registry corpora, with a report
(see ``fairseq_ext.demo.run``)."""
