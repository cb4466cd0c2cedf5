"""The portal's pages, the admin and the webhook routes: HTTP over every app's services."""
