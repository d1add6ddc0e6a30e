"""The pretraining corpus: the alphabet, Swiss-Prot and FASTA sources, decontamination against every
task's sequences, and the memory-mapped token files training reads."""
