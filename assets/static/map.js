/* Grid map: our own grid polygons on a plain background (no tiles unless a tile URL is
   configured — intranet counties have no internet, and public maps need an approved basemap).
   Markup: <div id="map" data-geojson-url data-locate-url data-tile-url data-detail-base>.
   ES5, loaded after leaflet.js; the CSP forbids inline scripts. */
(function () {
  'use strict';

  var el = document.getElementById('map');
  if (!el || typeof window.L === 'undefined') return;
  var L = window.L;
  L.Icon.Default.imagePath = '/assets/vendor/leaflet/images/';

  var en = /^en/i.test(document.documentElement.getAttribute('lang') || '');
  var T = en ? {
    details: 'Details', staff: 'Staff', grid: 'Grid', locating: 'Locating…',
    failed: 'Request failed, please try again', noGrids: 'No grid boundaries have been drawn here yet',
    loadFailed: 'Could not load the grid boundaries', nobody: 'No staff on post', point: 'Point'
  } : {
    details: '查看详情', staff: '网格人员', grid: '所在网格', locating: '正在定位…',
    failed: '请求失败，请稍后再试', noGrids: '该区域尚未绘制网格边界',
    loadFailed: '网格边界加载失败', nobody: '暂无在岗人员', point: '位置'
  };

  var data = el.dataset || {};
  var detailBase = data.detailBase || '/regions/';

  // Soft fills that stay readable under dark labels; strokes are the same hue, darker.
  var PALETTE = [
    ['#8AB4F8', '#2B5FB3'], ['#A8D5A2', '#3C7D35'], ['#F6C28B', '#B0661A'], ['#C9B3E6', '#6A4A9C'],
    ['#F4A7B0', '#A8394A'], ['#9ED8D8', '#2C7F80'], ['#E8D58A', '#8C7615'], ['#B8C4D6', '#4A5A72'],
    ['#F2B8E0', '#9A3F82'], ['#BFDE8E', '#5B7F1F']
  ];
  var HIGHLIGHT = { color: '#C8161D', weight: 3, fillOpacity: 0.5 };

  var map = L.map(el, {
    maxZoom: 19,
    zoomSnap: 0.5,
    attributionControl: !!data.tileUrl
  }).setView([35, 105], 4); // China, until the grids arrive

  if (data.tileUrl) {
    L.tileLayer(data.tileUrl, {
      maxZoom: 19,
      subdomains: data.tileSubdomains || 'abc',
      attribution: data.tileAttribution || ''
    }).addTo(map);
  }

  var layersByCode = {};
  var highlighted = null;
  var marker = null;

  function node(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) n.className = cls;
    if (text != null) n.textContent = String(text);
    return n;
  }

  // The panel for answers and messages; created beside the map if the page has none.
  function resultPanel() {
    var panel = document.querySelector('.locate-result');
    if (!panel) {
      panel = node('div', 'locate-result');
      el.parentNode.insertBefore(panel, el.nextSibling);
    }
    panel.setAttribute('aria-live', 'polite');
    return panel;
  }

  function showMessage(text, kind) {
    var panel = resultPanel();
    panel.innerHTML = '';
    panel.appendChild(node('div', 'alert alert-' + (kind || 'info'), text));
  }

  function styleFor(index) {
    var c = PALETTE[index % PALETTE.length];
    return { color: c[1], weight: 1.5, opacity: 0.9, fillColor: c[0], fillOpacity: 0.35 };
  }

  function highlight(code) {
    if (highlighted) {
      highlighted.layer.setStyle(highlighted.style);
      highlighted = null;
    }
    var entry = code && layersByCode[code];
    if (entry) {
      entry.layer.setStyle(HIGHLIGHT);
      entry.layer.bringToFront();
      highlighted = entry;
    }
  }

  function popupContent(props) {
    var box = node('div', 'grid-popup');
    box.appendChild(node('strong', null, props.name || ''));
    box.appendChild(node('div', 'mono', props.code || ''));
    if (props.staff) box.appendChild(node('div', 'muted', props.staff));
    var link = node('a', null, T.details);
    link.href = detailBase + encodeURIComponent(props.code || '');
    box.appendChild(node('div')).appendChild(link);
    return box;
  }

  function fillLegend(features) {
    var legend = document.querySelector('.map-legend');
    if (!legend || legend.children.length > 0) return; // the page wrote its own
    features.forEach(function (f, i) {
      var p = f.properties || {};
      var item = node('button', 'legend-item');
      item.type = 'button';
      var sw = node('span', 'swatch');
      sw.style.background = PALETTE[i % PALETTE.length][0];
      sw.style.borderColor = PALETTE[i % PALETTE.length][1];
      item.appendChild(sw);
      item.appendChild(node('span', null, p.name || p.code || ''));
      item.addEventListener('click', function () {
        var entry = layersByCode[p.code];
        if (!entry) return;
        map.fitBounds(entry.layer.getBounds(), { padding: [24, 24] });
        highlight(p.code);
        entry.layer.bindPopup(popupContent(p)).openPopup();
      });
      legend.appendChild(item);
    });
  }

  // Grids of one community share its name ("东霞社区第1网格", "东霞社区第2网格" …): the labels on
  // the map drop that shared part ("第1网格") so neighbouring labels do not run into each other.
  function shortLabels(features) {
    var names = features.map(function (f) { return (f.properties && f.properties.name) || ''; });
    if (names.length < 2) return names;
    var prefix = names[0];
    names.forEach(function (n) {
      while (prefix && n.indexOf(prefix) !== 0) prefix = prefix.slice(0, -1);
    });
    if (prefix.charAt(prefix.length - 1) === '第') prefix = prefix.slice(0, -1);
    var ok = prefix.length >= 2 && names.every(function (n) { return n.length - prefix.length >= 2; });
    return names.map(function (n) { return ok ? n.slice(prefix.length) : n; });
  }

  function draw(collection) {
    var features = (collection && collection.features) || [];
    if (!features.length) {
      showMessage(T.noGrids, 'info');
      return;
    }
    var labels = shortLabels(features);
    var labelled = [];
    var index = 0;
    var layer = L.geoJSON(collection, {
      // A click on a grid bubbles to the map, which locates the point: the panel then shows the
      // grid, its staff and a link (the same answer as anywhere else on the map).
      onEachFeature: function (feature, lyr) {
        var props = feature.properties || {};
        var style = styleFor(index);
        var label = labels[index] || props.name;
        index += 1;
        if (!lyr.setStyle) return; // a stray Point feature: not a grid
        lyr.setStyle(style);
        if (props.code) layersByCode[props.code] = { layer: lyr, style: style };
        if (label) {
          lyr.bindTooltip(label, {
            permanent: true, direction: 'center', className: 'grid-label', interactive: false
          });
          labelled.push(lyr);
        }
      }
    }).addTo(map);
    var bounds = layer.getBounds();
    if (!bounds.isValid()) return;
    map.fitBounds(bounds, { padding: [16, 16], animate: false });
    fillLegend(features);

    // A label shows only while its grid is drawn wide enough to hold it: the whole district's
    // 150 grids do not pile their names on top of each other, zooming in reveals them.
    // When most labels do not fit, none is shown (a few scattered names read as noise).
    var updateLabels = function () {
      var shown = 0;
      var checks = labelled.map(function (lyr) {
        var tip = lyr.getTooltip();
        var tipEl = tip && tip.getElement && tip.getElement();
        if (!tipEl) return null;
        var b = lyr.getBounds();
        var nw = map.latLngToContainerPoint(b.getNorthWest());
        var se = map.latLngToContainerPoint(b.getSouthEast());
        var fits = Math.abs(se.x - nw.x) >= tipEl.offsetWidth * 0.9 && Math.abs(se.y - nw.y) >= tipEl.offsetHeight * 1.5;
        if (fits) shown += 1;
        return { el: tipEl, fits: fits };
      });
      var crowded = shown < labelled.length / 2;
      checks.forEach(function (c) {
        if (c) c.el.style.visibility = c.fits && !crowded ? '' : 'hidden';
      });
    };
    map.on('zoomend resize', updateLabels);
    updateLabels();
  }

  function showLocated(answer) {
    var panel = resultPanel();
    panel.innerHTML = '';
    panel.appendChild(node('div', 'locate-title muted', T.grid));
    var name = node('div', 'locate-name');
    name.appendChild(node('strong', null, answer.name || ''));
    name.appendChild(document.createTextNode(' '));
    name.appendChild(node('span', 'mono', answer.code || ''));
    panel.appendChild(name);
    var staff = answer.staff || [];
    if (!staff.length) {
      panel.appendChild(node('div', 'muted', T.nobody));
    } else {
      var list = node('ul', 'locate-staff');
      staff.forEach(function (s) {
        var li = node('li', 'person-chip');
        li.appendChild(node('span', 'name', s.name || ''));
        li.appendChild(node('span', 'post', s.post_name || s.post || ''));
        if (s.work_phone) {
          var tel = node('a', 'phone mono', s.work_phone);
          tel.href = 'tel:' + String(s.work_phone).replace(/[^0-9+]/g, '');
          li.appendChild(tel);
        }
        list.appendChild(li);
      });
      panel.appendChild(list);
    }
    var link = node('a', 'btn btn-sm', T.details);
    link.href = detailBase + encodeURIComponent(answer.code || '');
    panel.appendChild(link);
    highlight(answer.code);
  }

  function locate(lat, lng, fromMap) {
    var base = data.locateUrl || '/api/v1/grids/locate';
    var url = base + (base.indexOf('?') < 0 ? '?' : '&') +
      'lat=' + encodeURIComponent(lat) + '&lng=' + encodeURIComponent(lng) + '&crs=wgs84';
    showMessage(T.locating, 'info');
    fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (res) {
        return res.json().then(
          function (body) { return { ok: res.ok, body: body }; },
          function () { return { ok: false, body: null }; }
        );
      })
      .then(function (r) {
        if (!r.ok) {
          var msg = r.body && r.body.error && r.body.error.message;
          highlight(null);
          showMessage(msg || T.failed, 'error');
          return;
        }
        var p = r.body.point;
        if (p && isFinite(p.lat) && isFinite(p.lng)) {
          var ll = L.latLng(p.lat, p.lng);
          if (marker) marker.setLatLng(ll); else marker = L.marker(ll, { keyboard: false }).addTo(map);
          if (!fromMap) map.panTo(ll);
        }
        showLocated(r.body);
      })
      .catch(function () { showMessage(T.failed, 'error'); });
  }

  map.on('click', function (e) {
    var lat = e.latlng.lat.toFixed(6);
    var lng = e.latlng.lng.toFixed(6);
    var latIn = document.getElementById('locate-lat');
    var lngIn = document.getElementById('locate-lng');
    if (latIn) latIn.value = lat;
    if (lngIn) lngIn.value = lng;
    locate(lat, lng, true);
  });

  var btn = document.getElementById('locate-btn');
  if (btn) {
    btn.addEventListener('click', function (e) {
      e.preventDefault(); // the button may sit in a <form>; stay on the page
      var latIn = document.getElementById('locate-lat');
      var lngIn = document.getElementById('locate-lng');
      locate(latIn ? latIn.value.trim() : '', lngIn ? lngIn.value.trim() : '', false);
    });
  }

  if (data.geojsonUrl) {
    fetch(data.geojsonUrl, {
      credentials: 'same-origin',
      headers: { Accept: 'application/geo+json, application/json' }
    })
      .then(function (res) {
        if (!res.ok) throw new Error(String(res.status));
        return res.json();
      })
      .then(draw)
      .catch(function () { showMessage(T.loadFailed, 'error'); });
  }
})();
