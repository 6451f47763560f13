"""The transfers: one module each, registered with ``@register``; config examples in config/."""
