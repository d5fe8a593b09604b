"""Published numbers shown beside our runs, marked as reported.

All rows come from Kang and Kang, "A Unified GAN-Based Framework for
Unsupervised Video Anomaly Detection Using Optical Flow and RGB Cues",
doi:10.20944/preprints202508.1337.v1: Table 2 (XD-Violence AP, percent),
Table 3 (Hockey Fight AUC and F1) and Table 4 (UCSD Ped2 frame AUC).
"""

from __future__ import annotations

PAPER = "Kang and Kang 2025 (doi:10.20944/preprints202508.1337.v1)"

# (model, supervision as the table states it, {metric: value})
REPORTED = {
    "ped2": [
        ("MPPCA", "unsupervised", {"auc": 0.69}),
        ("MDT", "unsupervised", {"auc": 0.83}),
        ("Conv2D-AE", "unsupervised", {"auc": 0.85}),
        ("ConvLSTM-AE", "unsupervised", {"auc": 0.88}),
        ("Conv3D-AE", "unsupervised", {"auc": 0.91}),
        ("STADNet", "unsupervised", {"auc": 0.95}),
        ("CR-AE", "unsupervised", {"auc": 0.96}),
        ("Optical Flow + STC + GAN", "unsupervised", {"auc": 0.97}),
        ("Multi-level Memory-augmented AMC", "unsupervised", {"auc": 0.99}),
        ("ours (paper)", "unsupervised", {"auc": 0.96}),
    ],
    "fight": [
        ("AnoGAN", "unsupervised", {"auc": 0.63, "f1": 0.57}),
        ("GANomaly", "semi-supervised", {"auc": 0.71, "f1": 0.59}),
        ("MemAE", "unsupervised", {"auc": 0.73, "f1": 0.65}),
        ("CFA-HLGAtt", "unsupervised", {"auc": 0.85, "f1": 0.82}),
        ("RTFM", "weakly supervised", {"auc": 0.85, "f1": 0.73}),
        ("ConvLSTM-AE", "unsupervised", {"auc": 0.89, "f1": 0.86}),
        ("ours (paper)", "unsupervised", {"auc": 0.92, "f1": 0.85}),
    ],
    "xd": [
        ("MGAFlow", "unsupervised", {"ap": 0.753}),
        ("DiffusionAD", "unsupervised", {"ap": 0.680}),
        ("STPM", "unsupervised", {"ap": 0.610}),
        ("MemAE", "unsupervised", {"ap": 0.630}),
        ("Flashback", "zero-shot", {"ap": 0.751}),
        ("ours (paper)", "unsupervised", {"ap": 0.805}),
    ],
}

# Dataset the paper's table was measured on, per board.
REPORTED_DATASET = {"ped2": "UCSD Ped2", "fight": "Hockey Fight", "xd": "XD-Violence"}

# Method name in our registry -> reported row it corresponds to, for the gap column.
PAPER_ROW = {"ours": "ours (paper)"}
