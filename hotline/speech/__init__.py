"""Speech: spoken answers in menus and collect nodes, and transcripts of recordings.

- `recogniser.py`: the interface every engine implements (streams, results, busy).
- `vosk_engine.py`: the Vosk engine, models per language, a bounded thread pool.
- `grammar.py`: what a node lets the caller say, and what the words mean.
- `endpoint.py`: when the caller starts and stops talking (barge-in, end of speech).
- `analysis.py`: keyword flags and a sentiment score of a transcript.
- `transcriber.py`: transcribes saved recordings in the background.
"""
