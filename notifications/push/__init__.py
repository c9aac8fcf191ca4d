"""Web Push: notifications that reach a browser with no tab of the site open.

``keys`` holds the site's VAPID keys and their check; ``subscriptions`` the browsers that
subscribed; ``sender`` pushes each committed notification, off the request path, to the
subscriptions of recipients with no open stream anywhere (their connection slots), so a
notification is either shown live or pushed, never both.
"""
