"""The admin's model pages: Django's autodiscovery imports this module, which registers them."""

from web.admin import vendors, verification, workflow

__all__ = ["vendors", "verification", "workflow"]
