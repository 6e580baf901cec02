"""Seed 000's habit-diversity chapter (notebook 07): vMF concentration kappa (``kappa``), its
validation on planted structure (``kappa_validation``, ``planted``), kappa vs temperature, size
and campaign (``trends``), anomaly and label-noise discovery (``anomaly``), the sentences that
compare our trends with the paper's (``text``) and the chapter's figures (``plots``).
"""
