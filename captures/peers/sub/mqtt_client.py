"""MQTT 3.1.1 over WebSocket with paho-mqtt (transport="websockets") against RabbitMQ Web-MQTT:
CONNECT, SUBSCRIBE (QoS 1), PUBLISH at QoS 0 and QoS 1 (one of them 3000 bytes), the
broker's PUBLISHes back with the client's PUBACKs, a PINGREQ, UNSUBSCRIBE, DISCONNECT.

    python mqtt_client.py HOST PORT PATH LOGFILE
"""

import json
import sys
import threading
import time

import paho.mqtt.client as mqtt

host, port, path, log_path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
logf = open(log_path, "a", buffering=1)


def log(ev, **fields):
    logf.write(json.dumps({"ts": time.time(), "role": "client", "ev": ev, **fields}, sort_keys=True) + "\n")


got = []
subscribed = threading.Event()
unsubscribed = threading.Event()
connected = threading.Event()

c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="sockscope-paho", protocol=mqtt.MQTTv311, transport="websockets")
c.ws_set_options(path=path)


def on_connect(client, userdata, flags, reason_code, properties):
    log("connack", reason_code=int(reason_code.value))
    connected.set()


def on_subscribe(client, userdata, mid, reason_codes, properties):
    log("suback", mid=mid, reason_codes=[int(r.value) for r in reason_codes])
    subscribed.set()


def on_unsubscribe(client, userdata, mid, reason_codes, properties):
    log("unsuback", mid=mid)
    unsubscribed.set()


def on_message(client, userdata, msg):
    got.append(msg.topic)
    log("message", topic=msg.topic, qos=msg.qos, len=len(msg.payload))


def on_publish(client, userdata, mid, reason_code, properties):
    log("puback", mid=mid)


c.on_connect, c.on_subscribe, c.on_unsubscribe = on_connect, on_subscribe, on_unsubscribe
c.on_message, c.on_publish = on_message, on_publish
c.connect(host, port, keepalive=60)
c.loop_start()
assert connected.wait(10)
result, mid = c.subscribe("sensors/#", qos=1)
log("subscribe", mid=mid, topic="sensors/#", qos=1)
assert subscribed.wait(10)
sent = [("sensors/temp", b"21.5", 0), ("sensors/temp", b"21.7", 1), ("sensors/humidity", b'{"rh": 40}', 1), ("sensors/blob", bytes(range(256)) * 12 + b"end!!!!!!!!!!!!!!!!!", 1)]
for topic, payload, qos in sent:
    info = c.publish(topic, payload, qos=qos)
    log("publish", topic=topic, qos=qos, mid=info.mid, len=len(payload))
    info.wait_for_publish(10)
deadline = time.time() + 10
while len(got) < len(sent) and time.time() < deadline:
    time.sleep(0.02)
log("received_all", count=len(got))
# A keep-alive ping, as paho sends it when idle (sent by hand so the capture need not wait).
c._send_pingreq()
log("pingreq")
time.sleep(0.3)
result, mid = c.unsubscribe("sensors/#")
log("unsubscribe", mid=mid)
assert unsubscribed.wait(10)
c.disconnect()
log("disconnect")
time.sleep(0.3)
c.loop_stop()
