"""The conformance kit of a build: lossless JSON rows and outputs, a request schema, and the
reference clients (Python, Node.js) that prove a serving runtime computes the training bits."""
