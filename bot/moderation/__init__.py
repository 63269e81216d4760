"""Moderation for team channels: who may use the bot where (policy), what may be asked (text and the
moderation model), what may be shown (result and answer checks), and what moderators see and decide
(the audit log, the moderators' channel, the review queue). All of it sits in the core's one job path."""
