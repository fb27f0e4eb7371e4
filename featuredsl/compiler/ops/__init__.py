"""The op families: each module declares its ops (`OPS`) next to their lowerings."""
