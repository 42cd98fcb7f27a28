"""The twin of async_event_nobody_sets: the task awaits an asyncio.Event,
but the loop also listens on 127.0.0.1, so input can still come. It does:
a client process (started before the loop, so no thread of ours stays
busy) connects after 2 s and the handler sets the event."""
import asyncio
import socket
import subprocess
import sys

CLIENT = """
import socket, sys, time
time.sleep(2.0)
with socket.create_connection(("127.0.0.1", int(sys.argv[1]))) as s:
    s.sendall(b"stop\\n")
    s.recv(16)
"""


def warm_up():
    return "warm"


async def main(listener, client):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    async def handle(reader, writer):
        await reader.readline()
        writer.write(b"bye\n")
        await writer.drain()
        writer.close()
        stop.set()

    server = await asyncio.start_server(handle, sock=listener)
    print(await loop.run_in_executor(None, warm_up))
    await stop.wait()
    server.close()
    await server.wait_closed()
    print("stopped by a client")


listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen()
port = listener.getsockname()[1]
client = subprocess.Popen([sys.executable, "-I", "-c", CLIENT, str(port)])
asyncio.run(main(listener, client))
client.wait()
