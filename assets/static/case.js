/* Case pages: the location picker of the report form (device location or a pin dropped on the
   grid map) and the small map of a case's location. ES5, loaded after leaflet.js; the CSP
   forbids inline scripts. Browsers report device positions in WGS-84, so crs stays "wgs84". */
(function () {
  'use strict';

  var L = window.L;
  var en = /^en/i.test(document.documentElement.getAttribute('lang') || '');
  var T = en ? {
    pinned: 'Pinned', locating: 'Locating…', denied: 'Location unavailable: pick on the map or choose a building',
    tooMany: 'At most {n} photos'
  } : {
    pinned: '已选位置', locating: '正在获取位置…', denied: '无法获取位置，请在地图上点选或选择楼栋',
    tooMany: '最多只能上传 {n} 张照片'
  };
  if (L) L.Icon.Default.imagePath = '/assets/vendor/leaflet/images/';

  function baseMap(el, center, zoom) {
    var map = L.map(el, { maxZoom: 19, zoomSnap: 0.5, attributionControl: !!el.dataset.tileUrl })
      .setView(center, zoom);
    if (el.dataset.tileUrl) L.tileLayer(el.dataset.tileUrl, { maxZoom: 19 }).addTo(map);
    return map;
  }

  // (a) The report form.
  var pick = document.getElementById('pick-map');
  var lat = document.getElementById('lat');
  var lng = document.getElementById('lng');
  var readout = document.querySelector('.pin-readout');
  var marker = null;
  var map = null;

  function setPin(la, ln, pan) {
    lat.value = la.toFixed(6);
    lng.value = ln.toFixed(6);
    if (readout) readout.textContent = T.pinned + ' ' + lat.value + ', ' + lng.value;
    if (!map) return;
    if (marker) marker.setLatLng([la, ln]); else marker = L.marker([la, ln]).addTo(map);
    if (pan) map.setView([la, ln], Math.max(map.getZoom(), 17));
  }

  if (pick && L && lat && lng) {
    map = baseMap(pick, [35, 105], 4);
    var url = pick.dataset.geojsonUrl;
    if (url) {
      fetch(url, { credentials: 'same-origin' }).then(function (r) { return r.ok ? r.json() : null; })
        .then(function (fc) {
          if (!fc || !fc.features || !fc.features.length) return;
          var layer = L.geoJSON(fc, {
            style: { color: '#2B5FB3', weight: 1.5, fillColor: '#8AB4F8', fillOpacity: 0.18 },
            onEachFeature: function (f, l) {
              if (f.properties && f.properties.name) l.bindTooltip(f.properties.name, { sticky: true });
              l.on('click', function (e) { setPin(e.latlng.lat, e.latlng.lng, false); });
            }
          }).addTo(map);
          map.fitBounds(layer.getBounds(), { padding: [8, 8] });
          if (lat.value && lng.value) setPin(parseFloat(lat.value), parseFloat(lng.value), false);
        })['catch'](function () {});
    }
    map.on('click', function (e) { setPin(e.latlng.lat, e.latlng.lng, false); });
  }

  var locBtn = document.getElementById('use-location');
  if (locBtn) {
    if (!navigator.geolocation) locBtn.hidden = true;
    locBtn.addEventListener('click', function () {
      if (readout) readout.textContent = T.locating;
      navigator.geolocation.getCurrentPosition(function (p) {
        setPin(p.coords.latitude, p.coords.longitude, true);
      }, function () {
        if (readout) readout.textContent = T.denied;
      }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
    });
  }

  // Too many photos: say so before the upload, not after.
  var photos = document.getElementById('photos');
  if (photos) {
    photos.addEventListener('change', function () {
      var max = parseInt(photos.getAttribute('data-max') || '9', 10);
      if (photos.files && photos.files.length > max) {
        window.alert(T.tooMany.replace('{n}', max));
        photos.value = '';
      }
    });
  }

  // (b) The case page's map.
  var caseMap = document.getElementById('case-map');
  if (caseMap && L) {
    var la = parseFloat(caseMap.dataset.lat), ln = parseFloat(caseMap.dataset.lng);
    if (isFinite(la) && isFinite(ln)) {
      var m = baseMap(caseMap, [la, ln], 17);
      L.marker([la, ln]).addTo(m);
      L.circle([la, ln], { radius: 30, color: '#C8161D', weight: 1, fillOpacity: 0.08 }).addTo(m);
    }
  }
})();

// Extra questions: only the chosen category's set is shown, and only it is submitted (a disabled
// fieldset sends nothing and its required fields are not checked).
(function () {
  var select = document.getElementById('category');
  var sets = document.querySelectorAll('fieldset.questions[data-category]');
  if (!select || !sets.length) return;
  function show() {
    for (var i = 0; i < sets.length; i++) {
      var on = sets[i].getAttribute('data-category') === select.value;
      sets[i].hidden = !on;
      sets[i].disabled = !on;
    }
  }
  select.addEventListener('change', show);
  show();
})();
