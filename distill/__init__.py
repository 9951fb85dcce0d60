"""distill: students learn from the cached teacher labels; detection, export and evaluation."""
