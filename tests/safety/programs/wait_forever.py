"""Says "ready" once recording, then waits until killed."""
import threading

print("ready", flush=True)
threading.Event().wait()
