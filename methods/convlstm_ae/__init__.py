"""ConvLSTM-AE of Luo, Liu and Gao, "Remembering history with convolutional LSTM for anomaly detection" (ICME 2017)."""

from methods.convlstm_ae.method import ConvLSTMAE, ConvLSTMAEConfig

__all__ = ["ConvLSTMAE", "ConvLSTMAEConfig"]
