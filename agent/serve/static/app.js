// The page of `agent serve`: the microphone (and the camera, if asked) go to the agent over
// WebRTC; its voice and face come back as one audio and one video track; the words and its
// emotion arrive as JSON messages on a data channel. Plain JS, no build step.
// ?autostart=1 starts at once (a test browser with a fake microphone), ?camera=1 ticks the
// camera box; a token, when the
// server needs one, comes in the address's fragment (#token=...), which never reaches a log.
"use strict";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const token = new URLSearchParams(location.hash.slice(1)).get("token");
const headers = { "Content-Type": "application/json" };
if (token) headers.Authorization = `Bearer ${token}`;

let pc = null;
let channel = null;
let statsTimer = null;
let agentLine = null; // the agent's line being spoken

function status(text) { $("status").textContent = text; }

function addLine(role, text, pending = false) {
  const li = document.createElement("li");
  li.className = role + (pending ? " pending" : "");
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = role === "user" ? "You" : ($("title").dataset.name || "Agent");
  const words = document.createElement("span");
  words.textContent = text;
  li.append(who, words);
  $("transcript").append(li);
  li.scrollIntoView({ block: "end" });
  return li;
}

function onMessage(event) {
  let msg;
  try { msg = JSON.parse(event.data); } catch { return; }
  switch (msg.type) {
    case "user":
      addLine("user", msg.text);
      break;
    case "sentence":
      if (!agentLine) agentLine = addLine("agent", "", true);
      agentLine.lastChild.textContent = (agentLine.lastChild.textContent + " " + msg.text).trim();
      break;
    case "agent":
      // what was heard of it: an interrupted reply keeps only the words that were played
      if (!agentLine) agentLine = addLine("agent", "");
      agentLine.lastChild.textContent = msg.text + (msg.interrupted ? " …" : "");
      agentLine.classList.remove("pending");
      agentLine = null;
      break;
    case "emotion":
      $("emotion").textContent = `${msg.label} (${Math.round(msg.intensity * 100)}%)`;
      break;
    case "state":
      if (msg.state === "thinking") status("Thinking…");
      else if (msg.state === "speaking") status("Speaking (talk over it to interrupt)");
      else if (msg.state === "listening") status("Listening…");
      break;
    case "notice":
      status(msg.text);
      break;
  }
}

async function reportStats() {
  if (!pc || !channel || channel.readyState !== "open") return;
  const out = { type: "stats" };
  (await pc.getStats()).forEach((s) => {
    if (s.type !== "inbound-rtp") return;
    if (s.kind === "video") {
      out.frames_decoded = s.framesDecoded || 0;
      out.fps = s.framesPerSecond || 0;
    } else if (s.kind === "audio") {
      out.audio_seconds_received = (s.totalSamplesDuration || 0);
      out.audio_energy = s.totalAudioEnergy || 0;
      out.concealed_samples = s.concealedSamples || 0;
    }
  });
  channel.send(JSON.stringify(out));
}

function gathered(peer, limitMs) {
  // aiortc takes a complete offer (no trickle); a STUN server that never answers must not hang it
  if (peer.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => { if (peer.iceGatheringState === "complete") resolve(); };
    peer.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, limitMs);
  });
}

async function start() {
  $("start").disabled = true;
  status("Asking for the microphone…");
  try {
    const config = await (await fetch("api/config", { headers })).json();
    if (config.persona) { $("title").textContent = `Talk to ${config.persona}`; $("title").dataset.name = config.persona; }
    const wantCamera = $("camera").checked;
    const media = await navigator.mediaDevices.getUserMedia({
      // the browser's own echo cancellation; the server's echo gate stays on behind it
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      video: wantCamera ? { width: 640, height: 480 } : false,
    });
    pc = new RTCPeerConnection({ iceServers: config.iceServers || [] });
    media.getTracks().forEach((t) => pc.addTrack(t, media));
    if (!wantCamera) pc.addTransceiver("video", { direction: "recvonly" });
    const remote = new MediaStream();
    pc.ontrack = (e) => { remote.addTrack(e.track); $("face").srcObject = remote; };
    channel = pc.createDataChannel("events");
    channel.onmessage = onMessage;
    pc.onconnectionstatechange = () => {
      if (pc && ["failed", "closed"].includes(pc.connectionState)) stop(`Connection ${pc.connectionState}.`);
      else if (pc && pc.connectionState === "connected") status("Connected: say something.");
    };
    await pc.setLocalDescription(await pc.createOffer());
    status("Connecting…");
    await gathered(pc, 3000);
    const res = await fetch("api/offer", {
      method: "POST", headers,
      body: JSON.stringify({ sdp: pc.localDescription.sdp, type: pc.localDescription.type }),
    });
    const answer = await res.json();
    if (!res.ok) throw new Error(answer.error || res.statusText);
    await pc.setRemoteDescription(answer);
    statsTimer = setInterval(reportStats, 1000);
    $("stop").disabled = false;
    $("words").disabled = $("send").disabled = false;
  } catch (err) {
    stop(`Could not start: ${err.message || err}`);
  }
}

function stop(text = "Hung up.") {
  if (channel && channel.readyState === "open") channel.send(JSON.stringify({ type: "bye" }));
  clearInterval(statsTimer);
  if (pc) {
    pc.getSenders().forEach((s) => s.track && s.track.stop());
    pc.close();
  }
  pc = channel = null;
  status(text);
  $("start").disabled = false;
  $("stop").disabled = $("words").disabled = $("send").disabled = true;
}

$("start").addEventListener("click", start);
$("stop").addEventListener("click", () => stop());
$("type").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("words").value.trim();
  if (text && channel && channel.readyState === "open") {
    channel.send(JSON.stringify({ type: "text", text }));
    $("words").value = "";
  }
});
window.addEventListener("pagehide", () => { if (pc) stop(); });
if (params.get("camera") === "1") $("camera").checked = true;
if (params.get("autostart") === "1") start();
