"""Independent re-implementations that minifw is tested against (never imported by minifw)."""
