"""GANomaly of Akcay, Atapour-Abarghouei and Breckon (ACCV 2018) on single video frames."""

from methods.ganomaly.method import Ganomaly, GanomalyConfig

__all__ = ["Ganomaly", "GanomalyConfig"]
