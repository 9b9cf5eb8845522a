"""The screens that open over a tab: settings, dialogs, the Doctor page, the token view, evaluation, indexing."""
