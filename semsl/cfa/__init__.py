"""The aggregation core: fragment grid model, planning, stitching and fragment files."""
