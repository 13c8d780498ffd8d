# Companion tools linking the core library.
