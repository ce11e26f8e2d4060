"""The small core every world kind shares: errors, counter-based randomness, the driver
protocol and its plain data, events (encode/decode with one validation, the event cursor),
episode statuses, state helpers, ASCII-grid parsing and the strict scene-schema base.

Nothing here knows a world kind; worlds (``simulator/worlds/<kind>/``) build on it.
"""
