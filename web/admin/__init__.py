"""The admin's model pages: Django's autodiscovery imports this module, which registers them."""

from web.admin import vendors, workflow

__all__ = ["vendors", "workflow"]
