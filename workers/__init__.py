"""The job machinery: the relay, the Dramatiq actors, and running a claimed job.

Embedded, the engine's relay thread runs the actors in-process on Dramatiq's in-memory
broker; with Redis, ``dramatiq infrastructure.workerprocess`` processes run them. The
package itself declares nothing, so importing the job machinery (``workers.execution``,
``workers.relay``) builds no broker: only importing ``workers.actors`` declares them.
"""
