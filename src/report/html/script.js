(function () {
  'use strict';

  // A cell's sort key: its data-sort attribute, else its text.
  function sortKey(row, index) {
    var cell = row.cells[index];
    if (!cell) { return ''; }
    var key = cell.getAttribute('data-sort');
    return key !== null ? key : (cell.textContent || '').trim();
  }

  // The number a key reads as, or null.
  function asNumber(text) {
    var t = text.replace(/[,\s]/g, '');
    if (!/^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(t)) { return null; }
    var n = Number(t);
    return isFinite(n) ? n : null;
  }

  // Numbers before text, numbers by value, text in natural order.
  function compare(a, b) {
    var x = asNumber(a);
    var y = asNumber(b);
    if (x !== null && y !== null) { return x - y; }
    if (x !== null) { return -1; }
    if (y !== null) { return 1; }
    return a.localeCompare(b, undefined, { numeric: true, sensitivity: 'base' });
  }

  function sortTable(table, heads, index) {
    var head = heads[index];
    var ascending = head.getAttribute('aria-sort') !== 'ascending';
    Array.prototype.forEach.call(heads, function (h) {
      h.setAttribute('aria-sort', 'none');
      var mark = h.querySelector('.arrow');
      if (mark) { mark.textContent = ''; }
    });
    head.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
    var arrow = head.querySelector('.arrow');
    if (arrow) { arrow.textContent = ascending ? '\u25B2' : '\u25BC'; }
    var body = table.tBodies[0];
    if (!body) { return; }
    var rows = Array.prototype.map.call(body.rows, function (row, position) {
      return { row: row, key: sortKey(row, index), position: position };
    });
    rows.sort(function (a, b) {
      var order = compare(a.key, b.key);
      if (!ascending) { order = -order; }
      return order !== 0 ? order : a.position - b.position;
    });
    var fragment = document.createDocumentFragment();
    rows.forEach(function (r) { fragment.appendChild(r.row); });
    body.appendChild(fragment);
  }

  function makeSortable(table) {
    var thead = table.tHead;
    if (!thead || thead.rows.length === 0) { return; }
    var heads = thead.rows[thead.rows.length - 1].cells;
    Array.prototype.forEach.call(heads, function (head, index) {
      var arrow = document.createElement('span');
      arrow.className = 'arrow';
      arrow.setAttribute('aria-hidden', 'true');
      head.appendChild(arrow);
      head.classList.add('sort');
      head.setAttribute('tabindex', '0');
      head.setAttribute('aria-sort', 'none');
      var go = function () { sortTable(table, heads, index); };
      head.addEventListener('click', go);
      head.addEventListener('keydown', function (event) {
        if (event.key === 'Enter' || event.key === ' ') {
          event.preventDefault();
          go();
        }
      });
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll('table.sortable'), makeSortable);

  // Printing shows what the folded sections hold.
  window.addEventListener('beforeprint', function () {
    Array.prototype.forEach.call(document.querySelectorAll('details'), function (d) {
      d.open = true;
    });
  });

  document.body.dataset.ready = "1";
})();
