"""
What django.db.backends.mysql.operations.DatabaseOperations answers when the
overlay's flush asks (see django_overlay.flush and .base).

Upstream's flush deletes from every table with foreign key checks off; a
DELETE from an empty table fires nothing, and with the checks off no foreign
key cascades, so deleting from the tables with rows alone leaves what
upstream leaves, unless a DELETE trigger of one of them writes rows (then the
whole flush set is emptied, as upstream does).
"""

delete_triggers_sql = (
    "SELECT 'trigger', event_object_table FROM information_schema.triggers "
    "WHERE event_object_schema = DATABASE() AND event_manipulation = 'DELETE'"
)
