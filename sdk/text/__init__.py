"""Text tokenization for generation and text models: a WordPiece tokenizer (BERT's basic tokenization) whose
C (``runtime_c/src/sdk_text.c``) and JS (``templates/text/wordpiece.mjs``) twins give the same ids."""
from .wordpiece import TokenizerError, WordPiece

__all__ = ["WordPiece", "TokenizerError"]
