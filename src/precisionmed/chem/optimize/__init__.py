"""Goal-directed molecule optimisation: a composable objective, GuacaMol's tasks, REINVENT.

:mod:`.objective` reads a scoring function from a small YAML file (QED, SA, property windows,
similarity, substructures, saved property and affinity models, GuacaMol tasks);
:mod:`.guacamol` reproduces GuacaMol's goal-directed tasks; :mod:`.reinvent` fine-tunes a
CharRNN prior with REINVENT's augmented-likelihood policy gradient.
"""
