"""The tabs' contents and the modal screens."""
