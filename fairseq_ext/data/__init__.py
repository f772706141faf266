from .language_batches import LanguageGroupedDataset, temperature_probs, temperature_resample
from .language_masking import LanguageMaskTokensDataset

__all__ = [
    "LanguageGroupedDataset",
    "LanguageMaskTokensDataset",
    "temperature_probs",
    "temperature_resample",
]
